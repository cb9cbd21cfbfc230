#include "runtime/base/published.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

// A value that knows whether it is still alive: a reader that sees `alive` false (or freed
// memory, under a sanitizer) read a value after it was released.
struct Value {
  explicit Value(int n) : n(n) {}
  ~Value() { alive.store(false); }
  int n;
  std::atomic<bool> alive{true};
};

TEST(PublishedTest, ReadersSeeTheNewestValue) {
  Published<Value> published(std::make_shared<const Value>(1));
  EXPECT_EQ(Published<Value>::Reader(published)->n, 1);
  published.Publish(std::make_shared<const Value>(2));
  EXPECT_EQ(Published<Value>::Reader(published)->n, 2);
}

// Note [grace period]: the replaced value goes once no reader holds it — not before (a reader
// holding it keeps it alive while Publish waits), not never (before, every table was kept).
TEST(PublishedTest, TheReplacedValueIsFreedOnceNoReaderHoldsIt) {
  auto first = std::make_shared<const Value>(1);
  std::weak_ptr<const Value> watch = first;
  Published<Value> published(std::move(first));

  std::promise<void> holding, release;
  std::thread reader([&] {
    Published<Value>::Reader held(published);
    holding.set_value();
    release.get_future().wait();
    EXPECT_TRUE(held->alive.load());
    EXPECT_EQ(held->n, 1);
  });
  holding.get_future().wait();  // the reader holds the first value
  std::atomic<bool> published_second{false};
  std::thread writer([&] {
    published.Publish(std::make_shared<const Value>(2));
    published_second = true;
  });
  // The writer cannot finish while the reader holds the old value. (Were it wrong, this would
  // usually see it finished; it never fails when right.)
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(published_second.load());
  EXPECT_FALSE(watch.expired());
  // A reader that starts now sees the new value at once, beside the old reader.
  EXPECT_EQ(Published<Value>::Reader(published)->n, 2);
  release.set_value();
  reader.join();
  writer.join();
  EXPECT_TRUE(published_second.load());
  EXPECT_TRUE(watch.expired()) << "the replaced value was kept";
}

// Many readers against a writer publishing as fast as it can: no reader ever sees a released
// value, and every replaced one is released (bounded: 500 publications).
TEST(PublishedTest, ReadersNeverSeeAReleasedValueUnderConstantPublishing) {
  Published<Value> published(std::make_shared<const Value>(0));
  std::atomic<bool> done{false};
  std::atomic<int64_t> reads{0}, stale{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        Published<Value>::Reader value(published);
        if (!value->alive.load()) ++stale;
        reads.fetch_add(1);
      }
    });
  }
  // Publishing starts once the readers are reading (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (reads.load() < 300 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  const bool reading = reads.load() >= 300;
  std::vector<std::weak_ptr<const Value>> replaced;
  for (int n = 1; n <= 500; ++n) {
    auto next = std::make_shared<const Value>(n);
    replaced.push_back(next);
    published.Publish(std::move(next));
  }
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_TRUE(reading) << "the readers never started";
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(published.epoch(), 500u);
  replaced.pop_back();  // the current one
  for (const auto& weak : replaced) ASSERT_TRUE(weak.expired());
}

}  // namespace
}  // namespace seqserve
