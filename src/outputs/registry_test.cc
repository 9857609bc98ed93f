#include "outputs/registry.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace pythond::outputs {
namespace {

TEST(OutputRegistryTest, MatchesTheConfigsListAndHasASampleEach) {
  std::vector<std::string> names;
  for (const OutputType& t : OutputRegistry()) {
    names.emplace_back(t.type);
    EXPECT_EQ(t.remote, t.make_sender != nullptr) << t.type;
    EXPECT_TRUE(
        std::filesystem::exists(std::filesystem::path(PYTHOND_SOURCE_PYTHON_DIR) / ".." / t.sample))
        << t.sample;
  }
  EXPECT_EQ(names, config::OutputTypes());
  EXPECT_EQ(FindOutputType("graphite"), nullptr);
  ASSERT_NE(FindOutputType("kafka"), nullptr);
  EXPECT_TRUE(FindOutputType("kafka")->remote);
}

}  // namespace
}  // namespace pythond::outputs
