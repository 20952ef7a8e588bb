// The seeded generator replays the exact sequences of the two copies it replaced (the mock's
// streams and the actors' backoff jitter), so seeds in scenario files keep their meaning.
#include "base/rng.hpp"

#include <gtest/gtest.h>

namespace zbatch::base {
namespace {

// Expected values were printed by the mock's and the actors' own xoshiro256** before they were
// merged into this one.
TEST(rng, stream_sequence_is_the_mocks) {
  rng r(42, 3);
  EXPECT_EQ(r.next(), 4393367743702550806ULL);
  EXPECT_EQ(r.next(), 2083193025902234773ULL);
  EXPECT_EQ(r.next(), 1613447729919889217ULL);
  EXPECT_DOUBLE_EQ(r.uniform(), 0.59540371229534905);
  EXPECT_DOUBLE_EQ(r.normal(), -1.6848472289817775);
}

TEST(rng, stream_zero_is_the_backoff_jitter_sequence) {
  rng r(42);
  EXPECT_EQ(r.next(), 1546998764402558742ULL);
  EXPECT_EQ(r.next(), 6990951692964543102ULL);
  EXPECT_EQ(r.next(), 12544586762248559009ULL);
  EXPECT_DOUBLE_EQ(r.uniform(), 0.92469294532538759);
}

TEST(rng, reseed_restarts_the_sequence) {
  rng a(7, 2);
  const auto first = a.next();
  a.next();
  a.reseed(7, 2);
  EXPECT_EQ(a.next(), first);
  EXPECT_NE(rng(7, 1).next(), first);
}

TEST(rng, uniform_stays_in_the_unit_interval) {
  rng r(1);
  for (int i = 0; i < 10000; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(hashing, fnv1a_and_splitmix64_are_the_reference_functions) {
  EXPECT_EQ(fnv1a("a red fox"), 1228196075611918890ULL);
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
  std::uint64_t state = 7;
  EXPECT_EQ(splitmix64(state), 7191089600892374487ULL);
  EXPECT_EQ(state, 7 + 0x9e3779b97f4a7c15ULL);
}

}  // namespace
}  // namespace zbatch::base
