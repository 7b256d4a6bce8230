// The catalog as a whole: names Prometheus accepts and its conventions, every family rendered
// once with its HELP and TYPE, every label value present from the start, every metric
// documented.
#include "metrics/catalog.h"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace bouncer::metrics {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The metric name of a sample line: up to '{' or ' '.
std::string sample_name(const std::string& line) { return line.substr(0, line.find_first_of("{ ")); }

TEST(Catalog, NamesFollowPrometheusConventions) {
  std::set<std::string_view> seen;
  for (const auto& f : families()) {
    SCOPED_TRACE(std::string(f.name));
    EXPECT_TRUE(valid_metric_name(f.name));
    EXPECT_TRUE(seen.insert(f.name).second) << "declared twice";
    EXPECT_TRUE(f.name.starts_with("bouncer_") || f.name.starts_with("process_"));
    EXPECT_FALSE(f.help.empty());
    // Counters end in _total, and nothing else does.
    EXPECT_EQ(f.name.ends_with("_total"), f.type == Type::counter);
    // Base units only (seconds, bytes), as the name says.
    EXPECT_EQ(f.name.find("millis"), std::string_view::npos);
    if (f.type == Type::histogram) {
      EXPECT_TRUE(f.name.ends_with("_seconds") || f.name.ends_with("_records"));
    }
  }
}

TEST(Catalog, RendersEveryFamilyOnceWithHelpAndType) {
  Catalog c;
  const auto lines = lines_of(render(c));
  std::map<std::string, int> helps, types;
  std::string current;
  Type current_type = Type::gauge;
  for (const auto& line : lines) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      ++helps[current];
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      ASSERT_EQ(name, current) << "TYPE without its HELP: " << line;
      ++types[name];
      const auto type = line.substr(line.rfind(' ') + 1);
      current_type = type == "counter" ? Type::counter : type == "histogram" ? Type::histogram : Type::gauge;
      continue;
    }
    ASSERT_FALSE(line.empty());
    ASSERT_NE(line[0], '#') << line;
    // Every sample belongs to the family announced last (a histogram's with its suffixes).
    const auto name = sample_name(line);
    if (current_type == Type::histogram) {
      EXPECT_TRUE(name == current + "_bucket" || name == current + "_sum" || name == current + "_count") << line;
    } else {
      EXPECT_EQ(name, current) << line;
    }
  }
  for (const auto& f : families()) {
    EXPECT_EQ(helps[std::string(f.name)], 1) << f.name;
    EXPECT_EQ(types[std::string(f.name)], 1) << f.name;
  }
}

// A series exists (at 0) before its first event, so that rate() and increase() see the first
// event too; here, every label value of every fixed list.
TEST(Catalog, EveryLabelValueIsThereFromTheStart) {
  Catalog c;
  const auto text = render(c);
  auto expect_all = [&](std::string_view name, std::string_view label, const auto& values) {
    for (const auto& v : values) {
      const auto series = std::string(name) + "{" + std::string(label) + "=\"" + std::string(v) + "\"} 0\n";
      EXPECT_NE(text.find(series), std::string::npos) << series;
    }
  };
  expect_all("bouncer_mints_total", "outcome", kMintOutcomes);
  expect_all("bouncer_sessions_refused_total", "reason", kRefusalReasons);
  expect_all("bouncer_sessions_ended_total", "cause", kEndCauses);
  expect_all("bouncer_relayed_bytes_total", "direction", kDirections);
  expect_all("bouncer_relayed_frames_total", "direction", kDirections);
}

TEST(Catalog, CountsAppearInTheExposition) {
  Catalog c;
  c.mints[MintOutcome::issued].add(3);
  c.sessions_refused.find("capacity")->add(2);
  c.relayed_bytes[Direction::upstream_to_client].add(1234);
  c.sessions_live.set({{"echo", 2.0}, {"a \"quoted\" model", 1.0}});
  c.store_commit_batch.observe(std::uint64_t{3});
  const auto text = render(c);
  EXPECT_NE(text.find("bouncer_mints_total{outcome=\"issued\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_sessions_refused_total{reason=\"capacity\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_relayed_bytes_total{direction=\"upstream_to_client\"} 1234\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_sessions_live{model=\"echo\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_sessions_live{model=\"a \\\"quoted\\\" model\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_store_commit_batch_records_bucket{le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("bouncer_store_commit_batch_records_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_EQ(c.sessions_refused.find("no_such_reason"), nullptr);
}

// The process's own figures are read at each render, and are plausible.
TEST(Catalog, ProcessMetrics) {
  Catalog c;
  render(c);
  EXPECT_GT(c.process_resident_memory.value(), 0);
  EXPECT_GE(c.process_virtual_memory.value(), c.process_resident_memory.value());
  EXPECT_GE(c.process_open_fds.value(), 3);  // at least stdin, stdout, stderr
  EXPECT_GE(c.process_max_fds.value(), c.process_open_fds.value());
  EXPECT_GE(c.process_cpu_seconds.value(), 0);
  const auto now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(c.process_start_time.value(), now + 1);
  EXPECT_GT(c.process_start_time.value(), now - 3600);  // this test process started within the hour
}

TEST(Catalog, EveryMetricIsDocumented) {
  std::ifstream file(std::string(BOUNCER_DOCS) + "/OPERATIONS.md");
  ASSERT_TRUE(file) << "docs/OPERATIONS.md";
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  for (const auto& f : families()) {
    // Appended: `literal + std::string&&` trips GCC 12's false -Wrestrict under -O3 (PR 105329).
    const auto quoted = std::string("`").append(f.name).append("`");
    EXPECT_NE(docs.find(quoted), std::string::npos) << f.name << " is not in docs/OPERATIONS.md";
  }
}

}  // namespace
}  // namespace bouncer::metrics
