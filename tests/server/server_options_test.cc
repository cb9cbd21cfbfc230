#include "server/server_options.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

absl::StatusOr<ServerOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "seqserve");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseServerOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(ServerOptionsTest, DefaultsMatchTriton) {
  absl::StatusOr<ServerOptions> o = Parse({"--model-repository=/models"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->model_repository, "/models");
  EXPECT_EQ(o->grpc_port, 8001);
  EXPECT_EQ(o->metrics_port, 8002);
  EXPECT_EQ(o->grpc_address, "0.0.0.0");
  EXPECT_TRUE(o->strict_readiness);
  EXPECT_LT(o->drain_timeout, absl::Seconds(30));
}

TEST(ServerOptionsTest, ParsesBothSpellings) {
  absl::StatusOr<ServerOptions> o =
      Parse({"--model-repository", "/m", "--grpc-port=0", "--metrics-port", "9000", "--strict-readiness=false",
             "--drain-timeout=2.5", "--grpc-address=127.0.0.1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->grpc_port, 0);
  EXPECT_EQ(o->metrics_port, 9000);
  EXPECT_FALSE(o->strict_readiness);
  EXPECT_EQ(o->drain_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(o->grpc_address, "127.0.0.1");
}

TEST(ServerOptionsTest, HttpPortsAndLimits) {
  absl::StatusOr<ServerOptions> o = Parse({"--model-repository=/m", "--grpc-address=127.0.0.1"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->http_port, 8000);            // Triton's REST port
  EXPECT_EQ(o->http_address, "127.0.0.1");  // follows --grpc-address
  EXPECT_EQ(o->http.max_connections, 1024);
  EXPECT_EQ(o->http.idle_timeout, absl::Seconds(30));
  o = Parse({"--model-repository=/m", "--http-port=-1", "--http-address=::1", "--http-threads=4",
             "--http-max-connections=10", "--http-idle-timeout=5", "--http-body-timeout=2.5",
             "--http-max-header-bytes=8192"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->http_port, -1);  // off
  EXPECT_EQ(o->http_address, "::1");
  EXPECT_EQ(o->http.threads, 4);
  EXPECT_EQ(o->http.max_connections, 10);
  EXPECT_EQ(o->http.idle_timeout, absl::Seconds(5));
  EXPECT_EQ(o->http.body_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(o->http.max_header_bytes, 8192);
  EXPECT_FALSE(Parse({"--model-repository=/m", "--http-port=-2"}).ok());
  EXPECT_FALSE(Parse({"--model-repository=/m", "--http-idle-timeout=0"}).ok());
  EXPECT_FALSE(Parse({"--model-repository=/m", "--http-max-header-bytes=10"}).ok());
}

TEST(ServerOptionsTest, AllocatorChoices) {
  absl::StatusOr<ServerOptions> o = Parse({"--model-repository=/m"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->cpu_pool);
  EXPECT_TRUE(o->cuda_pool);
  EXPECT_EQ(o->cuda_memory_budget_bytes, 0);
  EXPECT_EQ(o->memory_budget_bytes, -1);  // from the pod's memory limit
  EXPECT_TRUE(o->memory_footprint_ceiling);
  o = Parse({"--model-repository=/m", "--cpu-allocator=default", "--cuda-allocator=default",
             "--cuda-memory-budget-bytes=1073741824", "--memory-footprint-ceiling=false", "--memory-budget-bytes=0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->memory_budget_bytes, 0);
  EXPECT_FALSE(o->cpu_pool);
  EXPECT_FALSE(o->cuda_pool);
  EXPECT_EQ(o->cuda_memory_budget_bytes, int64_t{1} << 30);
  EXPECT_FALSE(o->memory_footprint_ceiling);
  o = Parse({"--model-repository=/m", "--memory-budget-bytes=auto"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->memory_budget_bytes, -1);
  EXPECT_FALSE(Parse({"--model-repository=/m", "--memory-budget-bytes=-5"}).ok());
  EXPECT_FALSE(Parse({"--model-repository=/m", "--memory-footprint-ceiling=maybe"}).ok());
  EXPECT_NE(Parse({"--model-repository=/m", "--cuda-allocator=malloc"}).status().message().find("--cuda-allocator"),
            std::string::npos);
  EXPECT_FALSE(Parse({"--model-repository=/m", "--cuda-memory-budget-bytes=-1"}).ok());
}

// --request-memory-bytes and --max-message-bytes default to "auto": Note [budget from the pod]
// decides them from the pod's limit once it is known; a flag given wins.
TEST(ServerOptionsTest, RequestMemoryAndTheLargestMessageFollowThePodUnlessGiven) {
  constexpr uint64_t kMiB = 1 << 20;
  absl::StatusOr<ServerOptions> o = Parse({"--model-repository=/m"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->request_memory_bytes, -1);
  EXPECT_EQ(o->max_message_bytes, -1);
  ResolveMemoryDefaults(1000 * kMiB, *o);
  EXPECT_EQ(o->request_memory_bytes, static_cast<int64_t>(1000 * kMiB / 16));
  EXPECT_EQ(o->max_message_bytes, static_cast<int64_t>(1000 * kMiB / 32));

  o = Parse({"--model-repository=/m", "--request-memory-bytes=0", "--max-message-bytes=auto"});
  ASSERT_TRUE(o.ok()) << o.status();
  ResolveMemoryDefaults(24 * 1024 * kMiB, *o);
  EXPECT_EQ(o->request_memory_bytes, 0);                              // unlimited stays unlimited
  EXPECT_EQ(o->max_message_bytes, static_cast<int64_t>(256 * kMiB));  // as if RAM were the limit

  o = Parse({"--model-repository=/m", "--request-memory-bytes=5000000", "--max-message-bytes=2048"});
  ASSERT_TRUE(o.ok()) << o.status();
  ResolveMemoryDefaults(1000 * kMiB, *o);
  EXPECT_EQ(o->request_memory_bytes, 5000000);
  EXPECT_EQ(o->max_message_bytes, 2048);
  EXPECT_FALSE(Parse({"--model-repository=/m", "--request-memory-bytes=-2"}).ok());
  EXPECT_FALSE(Parse({"--model-repository=/m", "--max-message-bytes=100"}).ok());  // under 1024
}

TEST(ServerOptionsTest, RejectsWithTheFlagName) {
  EXPECT_NE(Parse({}).status().message().find("--model-repository is required"), std::string::npos);
  EXPECT_NE(Parse({"--model-repository=/m", "--grpc-prot=1"}).status().message().find("unknown flag --grpc-prot"),
            std::string::npos);
  EXPECT_NE(Parse({"--model-repository=/m", "--grpc-port=70000"}).status().message().find("--grpc-port"),
            std::string::npos);
  EXPECT_NE(Parse({"--model-repository=/m", "--drain-timeout"}).status().message().find("needs a value"),
            std::string::npos);
  EXPECT_TRUE(absl::IsCancelled(Parse({"--help"}).status()));
  EXPECT_TRUE(absl::IsCancelled(Parse({"--version"}).status()));
  EXPECT_EQ(Parse({"--version"}).status().message(), std::string("seqserve ") + SEQSERVE_VERSION);
}

// Note [flags declared once]: every default --help and the docs show is what the struct
// declares, written so that the flag takes it back unchanged.
TEST(ServerOptionsTest, EveryShownDefaultParsesBackToItself) {
  const std::vector<std::pair<std::string, std::string>> defaults = FlagDefaults();
  EXPECT_GT(defaults.size(), 25u);
  for (const auto& [name, shown] : defaults) {
    absl::StatusOr<ServerOptions> parsed = Parse({"--model-repository=/m", "--" + name + "=" + shown});
    ASSERT_TRUE(parsed.ok()) << "--" << name << "=" << shown << ": " << parsed.status();
    EXPECT_EQ(ShowFlag(*parsed, name), shown) << name;
  }
  // Spot checks against the declarations themselves.
  const std::map<std::string, std::string> by_name(defaults.begin(), defaults.end());
  EXPECT_EQ(by_name.at("grpc-port"), std::to_string(ServerOptions().grpc_port));
  EXPECT_EQ(by_name.at("drain-timeout"), "25");
  EXPECT_EQ(by_name.at("max-message-bytes"), "auto");
  EXPECT_EQ(by_name.at("cpu-allocator"), "pool");
  EXPECT_EQ(by_name.count("port-file"), 0u);  // unset by default
  // The docs' table is made from the same entries.
  const std::string table = FlagsMarkdown();
  EXPECT_NE(table.find("| `--grpc-port` | `8001` | "), std::string::npos) << table;
  EXPECT_NE(table.find("| `--metrics-address` | `--grpc-address` | "), std::string::npos) << table;
}

}  // namespace
}  // namespace seqserve
