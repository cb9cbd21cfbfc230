#include "runtime/repository/repository_scan.h"

#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

ModelScan Scanned(const std::string& fingerprint) {
  ModelScan scan;
  scan.dir = "/models/m";
  scan.has_config = true;
  scan.config_text = "max_batch_size: 4";
  scan.versions[1] = fingerprint;
  return scan;
}

using Scans = std::map<std::string, ModelScan>;
using Synced = std::map<std::string, std::optional<ModelScan>>;

// Note [atomic pickup]: acted on only when two polls in a row agree, and only when that differs
// from what the model was last loaded with.
TEST(PollChangesTest, ActsOnlyOnWhatTwoPollsInARowScannedTheSameWay) {
  // A model appears: not in the poll before, so it waits for the next one.
  EXPECT_TRUE(PollChanges({}, {{"m", Scanned("a")}}, {}).empty());
  std::vector<PollChange> changes = PollChanges({{"m", Scanned("a")}}, {{"m", Scanned("a")}}, {});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "m");
  EXPECT_EQ(changes[0].what, "appeared");
  ASSERT_TRUE(changes[0].scan.has_value());
  EXPECT_EQ(*changes[0].scan, Scanned("a"));

  // Loaded with "a": nothing to do while it stays "a"; a file still changing waits.
  const Synced loaded = {{"m", Scanned("a")}};
  EXPECT_TRUE(PollChanges({{"m", Scanned("a")}}, {{"m", Scanned("a")}}, loaded).empty());
  EXPECT_TRUE(PollChanges({{"m", Scanned("a")}}, {{"m", Scanned("b")}}, loaded).empty());
  changes = PollChanges({{"m", Scanned("b")}}, {{"m", Scanned("b")}}, loaded);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, "changed");

  // The folder leaves: acted on once two polls missed it.
  EXPECT_TRUE(PollChanges({{"m", Scanned("a")}}, {}, loaded).empty());
  changes = PollChanges({}, {}, loaded);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, "left");
  EXPECT_FALSE(changes[0].scan.has_value());
}

}  // namespace
}  // namespace seqserve
