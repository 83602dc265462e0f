# Eight bytes at a time, for the compiled JSON reader and writer (cimported; nothing at run time).
#
# JSON strings end at a quote, escape at a backslash and may not hold a control character: most
# strings have none of these but the closing quote, so both sides scan a word of eight bytes at a
# time for one ("has less than" and "has zero byte" bit-twiddling; the bytes of a multi-byte UTF-8
# character are >= 0x80 and never match).

from libc.stdint cimport uint64_t

cdef extern from *:
    """
    /* How many bytes of a word to skip before its first flagged byte: exact on a little-endian
       machine with GCC or Clang; elsewhere 0, and the caller checks the word byte by byte. */
    static inline int fhirconv_first_flagged_byte(unsigned long long mask) {
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return __builtin_ctzll(mask) >> 3;
    #else
        (void)mask;
        return 0;
    #endif
    }
    """
    int first_flagged_byte "fhirconv_first_flagged_byte" (uint64_t mask) noexcept nogil


cdef inline uint64_t specials(uint64_t word) noexcept nogil:
    """The high bit of each of eight bytes that is a control character, a quote or a backslash.
    Exact up to the first such byte in memory order on a little-endian machine (a borrow only
    starts at one and runs towards later bytes); later bits may be false positives, never earlier."""
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t quote = word ^ (ones * 0x22), backslash = word ^ (ones * 0x5C)
    return (((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) \
        & 0x8080808080808080ULL
