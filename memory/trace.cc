#include "memory/trace.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace seqserve::memory {
namespace {

constexpr char kHeader[] = "# seqserve memory trace v1: op size address stream time_ns\n";
constexpr size_t kWriteBuffer = 1 << 20;

}  // namespace

int64_t MonotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string FormatTraceEvent(const TraceEvent& e) {
  return absl::StrFormat("%s %d 0x%x %d %d", e.op == TraceOp::kAlloc ? "alloc" : "free", e.size, e.address, e.stream,
                         e.time_ns);
}

absl::StatusOr<std::unique_ptr<FileTraceWriter>> FileTraceWriter::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create trace file '", path, "': ", std::strerror(errno)));
  }
  std::setvbuf(file, nullptr, _IOFBF, kWriteBuffer);
  if (std::fputs(kHeader, file) == EOF) {
    std::fclose(file);
    return absl::InternalError(absl::StrCat("cannot write trace file '", path, "'"));
  }
  return std::unique_ptr<FileTraceWriter>(new FileTraceWriter(path, file));
}

FileTraceWriter::FileTraceWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

FileTraceWriter::~FileTraceWriter() { Close().IgnoreError(); }

void FileTraceWriter::Record(const TraceEvent& e) {
  MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  const int n = std::fprintf(file_, "%s %llu 0x%llx %llu %lld\n", e.op == TraceOp::kAlloc ? "alloc" : "free",
                             static_cast<unsigned long long>(e.size), static_cast<unsigned long long>(e.address),
                             static_cast<unsigned long long>(e.stream), static_cast<long long>(e.time_ns));
  if (n < 0) failed_ = true;
  ++events_;
}

absl::Status FileTraceWriter::Close() {
  MutexLock lock(&mu_);
  if (file_ == nullptr) return absl::OkStatus();
  const bool close_failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (failed_ || close_failed) {
    return absl::InternalError(absl::StrCat("writing trace file '", path_, "' failed"));
  }
  return absl::OkStatus();
}

int64_t FileTraceWriter::events() const {
  MutexLock lock(&mu_);
  return events_;
}

absl::StatusOr<std::vector<TraceEvent>> ReadTrace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open trace file '", path, "'"));
  std::vector<TraceEvent> events;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(text, ' ', absl::SkipEmpty());
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", what, " in trace line '", text,
                                                     "' (expected: alloc|free <size> 0x<address> <stream> <time_ns>)"));
    };
    if (fields.size() != 5) return bad("wrong number of fields");
    TraceEvent e;
    if (fields[0] == "alloc") {
      e.op = TraceOp::kAlloc;
    } else if (fields[0] == "free") {
      e.op = TraceOp::kFree;
    } else {
      return bad("unknown operation");
    }
    absl::string_view address = fields[2];
    if (!absl::ConsumePrefix(&address, "0x")) return bad("address without 0x");
    if (!absl::SimpleAtoi(fields[1], &e.size)) return bad("bad size");
    if (!absl::SimpleHexAtoi(address, &e.address)) return bad("bad address");
    if (!absl::SimpleAtoi(fields[3], &e.stream)) return bad("bad stream");
    if (!absl::SimpleAtoi(fields[4], &e.time_ns)) return bad("bad time");
    events.push_back(e);
  }
  if (in.bad()) return absl::InternalError(absl::StrCat("reading trace file '", path, "' failed"));
  return events;
}

}  // namespace seqserve::memory
