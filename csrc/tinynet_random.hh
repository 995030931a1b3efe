// Counter-based random numbers for shuffling and dropout.
//
// The value for counter c under key k is the c-th output of SplitMix64 seeded with k: no
// state but (k, c), so the numpy reference draws exactly the same numbers with vectorised
// uint64 arithmetic (tinynet/reference.py), and an epoch's numbers do not depend on how
// the epochs were split into calls.
#ifndef TINYNET_RANDOM_HH
#define TINYNET_RANDOM_HH

#include <algorithm>
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
// ties by index (numpy's stable argsort of the same keys gives the same order).
inline void random_order(std::uint64_t key, std::uint64_t first, std::ptrdiff_t* order,
                         std::uint64_t* sort_keys, std::ptrdiff_t n) {
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        order[i] = i;
        sort_keys[i] = random_bits(key, first + std::uint64_t(i));
    }
    std::sort(order, order + n, [sort_keys](std::ptrdiff_t a, std::ptrdiff_t b) {
        return sort_keys[a] < sort_keys[b] || (sort_keys[a] == sort_keys[b] && a < b);
    });
}

}  // namespace tinynet

#endif  // TINYNET_RANDOM_HH
