// The mock's ids come from the shared generator and keep the sequence they had before it was
// shared (expected text printed by the mock's own copy of xoshiro256**).
#include "mock_api/rng.hpp"

#include <gtest/gtest.h>

namespace zbatch::mock {
namespace {

TEST(mock_rng, uuid_is_version_4_text_from_the_seeded_stream) {
  rng ids(42, 3);
  for (int i = 0; i < 3; ++i) {
    ids.next();
  }
  ids.uniform();
  ids.normal();
  EXPECT_EQ(ids.uuid(), "8440c2fb-ca1d-40c7-8366-386555ddaba9");
}

}  // namespace
}  // namespace zbatch::mock
