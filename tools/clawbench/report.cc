#include "tools/clawbench/report.h"

#include <algorithm>
#include <cstdio>

namespace claw::clawbench {

namespace {

struct Percentile {
  const char* text;  // as printed
  const char* json;  // JSON key
  double p;
};
constexpr Percentile kPercentiles[] = {
    {"10", "p10", 0.10}, {"25", "p25", 0.25}, {"50", "p50", 0.50},   {"75", "p75", 0.75},
    {"90", "p90", 0.90}, {"95", "p95", 0.95}, {"99", "p99", 0.99}, {"99.9", "p99_9", 0.999},
};

double Ms(double ns) { return ns / 1e6; }
double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string Fmt(const char* format, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, format, args...);
  return buf;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += Fmt("\\u%04x", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Number(double v) { return Fmt("%.6g", v); }

double Throughput(const RunResult& r) { return r.elapsed_s > 0 ? static_cast<double>(r.ok) / r.elapsed_s : 0.0; }

}  // namespace

std::string FormatText(const Options& o, const RunResult& r) {
  const auto& h = r.latency;
  std::string out;
  out += Fmt("clawbench %s against %s (%zu endpoint%s), %d conn%s, %d client%s, %s\n", o.workload_name.c_str(),
             std::string(TargetName(o.target)).c_str(), o.endpoints.size(), o.endpoints.size() == 1 ? "" : "s", o.conns,
             o.conns == 1 ? "" : "s", o.clients, o.clients == 1 ? "" : "s",
             o.rate > 0 ? Fmt("fixed rate %.0f/s", o.rate).c_str() : "closed loop");
  out += "\nSummary:\n";
  out += Fmt("  Total:\t%.4f secs.\n", r.elapsed_s);
  out += Fmt("  Slowest:\t%.4f ms.\n", Ms(h.max));
  out += Fmt("  Fastest:\t%.4f ms.\n", Ms(h.min));
  out += Fmt("  Average:\t%.4f ms.\n", Ms(h.Mean()));
  out += Fmt("  Stddev:\t%.4f ms.\n", Ms(h.Stddev()));
  out += Fmt("  Requests/sec:\t%.1f\n", Throughput(r));
  if (o.workload == Workload::kBatch) {
    out += Fmt("  Puts/sec:\t%.1f (%llu per request)\n", r.elapsed_s > 0 ? static_cast<double>(r.keys_written) / r.elapsed_s : 0.0,
               static_cast<unsigned long long>(o.ops_per_request));
  }
  out += Fmt("  Requests:\t%llu sent, %llu ok, %llu failed\n", static_cast<unsigned long long>(r.sent),
             static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.failed));
  if (r.ops.contains("get")) out += Fmt("  Not found:\t%llu of %llu gets\n", static_cast<unsigned long long>(r.not_found), static_cast<unsigned long long>(r.ops.at("get")));
  if (r.ops.contains("scan")) out += Fmt("  Keys read:\t%llu in %llu scans\n", static_cast<unsigned long long>(r.keys_read), static_cast<unsigned long long>(r.ops.at("scan")));

  out += "\nResponse time histogram (ms):\n";
  const auto ranges = h.PowerOfTwoRanges();
  uint64_t most = 1;
  for (const auto& [upper, count] : ranges) most = std::max(most, count);
  for (const auto& [upper, count] : ranges) {
    const int bar = static_cast<int>(40 * count / most);
    out += Fmt("  < %10.4f [%llu]\t|%s\n", Ms(upper), static_cast<unsigned long long>(count), std::string(static_cast<size_t>(bar), '#').c_str());
  }
  out += "\nLatency distribution:\n";
  for (const auto& p : kPercentiles) out += Fmt("  %s%% in %.4f ms.\n", p.text, Ms(h.Percentile(p.p)));
  if (!r.errors.empty()) {
    out += "\nErrors:\n";
    for (const auto& [code, n] : r.errors) {
      out += Fmt("  %s: %llu (first: %s)\n", code.c_str(), static_cast<unsigned long long>(n), r.error_text.at(code).c_str());
    }
  }
  return out;
}

std::string FormatJson(const Options& o, const RunResult& r) {
  const auto& h = r.latency;
  std::string out = "{";
  out += "\"target\":" + JsonString(TargetName(o.target));
  out += ",\"workload\":" + JsonString(WorkloadName(o.workload));
  out += ",\"endpoints\":[";
  for (size_t i = 0; i < o.endpoints.size(); ++i) out += (i ? "," : "") + JsonString(o.endpoints[i]);
  out += "]";
  out += ",\"conns\":" + std::to_string(o.conns) + ",\"clients\":" + std::to_string(o.clients);
  out += ",\"rate\":" + Number(o.rate);
  out += ",\"key_size\":" + std::to_string(o.key_size) + ",\"val_size\":" + std::to_string(o.val_size);
  out += ",\"key_space_size\":" + std::to_string(o.key_space_size);
  out += ",\"key_dist\":" + JsonString(o.key_dist == KeyDistribution::kZipfian ? "zipfian" : "uniform");
  if (o.workload == Workload::kBatch) out += ",\"ops_per_request\":" + std::to_string(o.ops_per_request);
  out += ",\"sent\":" + std::to_string(r.sent) + ",\"ok\":" + std::to_string(r.ok) + ",\"failed\":" + std::to_string(r.failed);
  out += ",\"errors\":{";
  bool first = true;
  for (const auto& [code, n] : r.errors) {
    out += (first ? "" : ",") + JsonString(code) + ":{\"count\":" + std::to_string(n) + ",\"first\":" + JsonString(r.error_text.at(code)) + "}";
    first = false;
  }
  out += "},\"ops\":{";
  first = true;
  for (const auto& [kind, n] : r.ops) {
    out += (first ? "" : ",") + JsonString(kind) + ":" + std::to_string(n);
    first = false;
  }
  out += "}";
  out += ",\"not_found\":" + std::to_string(r.not_found) + ",\"keys_read\":" + std::to_string(r.keys_read);
  out += ",\"keys_written\":" + std::to_string(r.keys_written);
  out += ",\"elapsed_s\":" + Number(r.elapsed_s);
  out += ",\"throughput\":" + Number(Throughput(r));
  out += ",\"latency_ms\":{\"count\":" + std::to_string(h.count) + ",\"min\":" + Number(Ms(h.min)) +
         ",\"mean\":" + Number(Ms(h.Mean())) + ",\"stddev\":" + Number(Ms(h.Stddev()));
  for (const auto& p : kPercentiles) out += ",\"" + std::string(p.json) + "\":" + Number(Ms(h.Percentile(p.p)));
  out += ",\"max\":" + Number(Ms(h.max)) + "}";
  out += ",\"histogram\":[";
  first = true;
  for (const auto& [upper, count] : h.PowerOfTwoRanges()) {
    out += (first ? "" : ",") + std::string("{\"lt_ms\":") + Number(Ms(upper)) + ",\"count\":" + std::to_string(count) + "}";
    first = false;
  }
  out += "]}\n";
  return out;
}

}  // namespace claw::clawbench
