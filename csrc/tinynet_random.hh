// Counter-based random numbers for shuffling and dropout.
//
// The value for counter c under key k is the c-th output of SplitMix64 seeded with k: no
// state but (k, c), so the numpy reference draws exactly the same numbers with vectorised
// uint64 arithmetic (tinynet/reference.py), and an epoch's numbers do not depend on how
// the epochs were split into calls.
#ifndef TINYNET_RANDOM_HH
#define TINYNET_RANDOM_HH

#include <utility>
#include <cstddef>
#include <cstdint>

namespace tinynet {

const std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

inline std::uint64_t random_bits(std::uint64_t key, std::uint64_t counter) {
    std::uint64_t z = key + (counter + 1) * kGoldenGamma;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// A double uniform in [0, 1) from the top 53 bits.
inline double random_uniform(std::uint64_t key, std::uint64_t counter) {
    return double(random_bits(key, counter) >> 11) * (1.0 / 9007199254740992.0);
}

// order[0..n) = a permutation of 0..n-1: the indices sorted by random_bits(key, first + i),
// ties by index (numpy's stable argsort of the same keys gives the same order). A stable
// least-significant-digit radix sort, a byte a pass: eight passes over the rows instead of a
// comparison sort's n log n unpredictable branches (it was a third of an epoch of 16000 rows
// in batches of 200). order and sort_keys hold 2n elements each, the second half scratch;
// the eight passes end back in the first.
inline void random_order(std::uint64_t key, std::uint64_t first, std::ptrdiff_t* order,
                         std::uint64_t* sort_keys, std::ptrdiff_t n) {
    constexpr int kPasses = 8;
    std::ptrdiff_t starts[kPasses][256] = {};
    std::uint64_t* keys = sort_keys;
    std::uint64_t* keys_to = sort_keys + n;
    std::ptrdiff_t* rows = order;
    std::ptrdiff_t* rows_to = order + n;
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        rows[i] = i;
        keys[i] = random_bits(key, first + std::uint64_t(i));
        for (int pass = 0; pass < kPasses; ++pass) ++starts[pass][(keys[i] >> (8 * pass)) & 255];
    }
    for (int pass = 0; pass < kPasses; ++pass) {
        std::ptrdiff_t* start = starts[pass];
        std::ptrdiff_t total = 0;
        for (int digit = 0; digit < 256; ++digit) {
            const std::ptrdiff_t count = start[digit];
            start[digit] = total;
            total += count;
        }
        for (std::ptrdiff_t i = 0; i < n; ++i) {
            const std::ptrdiff_t to = start[(keys[i] >> (8 * pass)) & 255]++;
            keys_to[to] = keys[i];
            rows_to[to] = rows[i];
        }
        std::swap(keys, keys_to);
        std::swap(rows, rows_to);
    }
}

}  // namespace tinynet

#endif  // TINYNET_RANDOM_HH
