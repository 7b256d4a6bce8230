// The Prometheus text format, line by line: what `promtool check metrics` and a Prometheus
// server parse (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include "metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace bouncer::metrics {
namespace {

std::string value_text(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

std::string value_text(std::uint64_t v) {
  std::string out;
  append_value(out, v);
  return out;
}

TEST(Exposition, FamilyHeaderThenSamples) {
  Exposition out;
  out.family("bouncer_mints_total", Type::counter, "Mint requests by outcome");
  out.sample("bouncer_mints_total", {{"outcome", "issued"}}, std::uint64_t{42});
  out.sample("bouncer_mints_total", {{"outcome", "rate_limited"}}, std::uint64_t{0});
  out.family("bouncer_connections_open", Type::gauge, "Open connections");
  out.sample("bouncer_connections_open", {}, 3.0);
  EXPECT_EQ(out.text(),
            "# HELP bouncer_mints_total Mint requests by outcome\n"
            "# TYPE bouncer_mints_total counter\n"
            "bouncer_mints_total{outcome=\"issued\"} 42\n"
            "bouncer_mints_total{outcome=\"rate_limited\"} 0\n"
            "# HELP bouncer_connections_open Open connections\n"
            "# TYPE bouncer_connections_open gauge\n"
            "bouncer_connections_open 3\n");
}

TEST(Exposition, SeveralLabelsInOrder) {
  Exposition out;
  out.sample("m", {{"a", "1"}, {"b", "2"}}, std::uint64_t{7});
  EXPECT_EQ(out.text(), "m{a=\"1\",b=\"2\"} 7\n");
}

// Label values: backslash, double quote and line feed are escaped, everything else (UTF-8
// included) is written as is.
TEST(Exposition, LabelValuesAreEscaped) {
  Exposition out;
  out.sample("bouncer_sessions_live", {{"model", "a\\b\"c\nd"}}, 1.0);
  out.sample("bouncer_sessions_live", {{"model", "modèle {x}=y,z"}}, 2.0);
  EXPECT_EQ(out.text(),
            "bouncer_sessions_live{model=\"a\\\\b\\\"c\\nd\"} 1\n"
            "bouncer_sessions_live{model=\"modèle {x}=y,z\"} 2\n");
}

// HELP text: backslash and line feed are escaped; a double quote is not.
TEST(Exposition, HelpIsEscaped) {
  Exposition out;
  out.family("m", Type::gauge, "one \\ two\nthree \"four\"");
  EXPECT_EQ(out.text(), "# HELP m one \\\\ two\\nthree \"four\"\n# TYPE m gauge\n");
}

TEST(Exposition, Values) {
  EXPECT_EQ(value_text(std::uint64_t{0}), "0");
  EXPECT_EQ(value_text(std::uint64_t{18446744073709551615ULL}), "18446744073709551615");
  EXPECT_EQ(value_text(1.0), "1");
  EXPECT_EQ(value_text(0.25), "0.25");
  EXPECT_EQ(value_text(1234.5), "1234.5");
  EXPECT_EQ(value_text(-2.0), "-2");
  EXPECT_EQ(value_text(1e-7), "1e-07");
  EXPECT_EQ(value_text(0.0005), "0.0005");
  EXPECT_EQ(value_text(0.0001), "0.0001");
  EXPECT_EQ(value_text(1796650886.7), "1796650886.7");
  EXPECT_EQ(value_text(1e21), "1e+21");
  EXPECT_EQ(value_text(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value_text(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value_text(-std::numeric_limits<double>::infinity()), "-Inf");
  // Shortest form that reads back the same.
  EXPECT_EQ(std::stod(value_text(0.1 + 0.2)), 0.1 + 0.2);
}

TEST(Exposition, Names) {
  EXPECT_TRUE(valid_metric_name("bouncer_mints_total"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_TRUE(valid_metric_name("_x"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("bouncer-mints"));
  EXPECT_FALSE(valid_metric_name("bouncer mints"));
  EXPECT_TRUE(valid_label_name("outcome"));
  EXPECT_FALSE(valid_label_name("out:come"));
  EXPECT_FALSE(valid_label_name("__name__"));
  EXPECT_FALSE(valid_label_name("1x"));
}

// A histogram: cumulative buckets with `le` in the exposed unit, +Inf equal to the count,
// then _sum (in the exposed unit) and _count.
TEST(Exposition, Histogram) {
  const std::uint64_t bounds[] = {500'000, 1'000'000, 2'500'000};  // nanoseconds
  Histogram h(bounds, 1e9);
  h.observe(std::uint64_t{400'000});    // ≤ 0.0005
  h.observe(std::uint64_t{500'000});    // ≤ 0.0005 (le: less than or equal)
  h.observe(std::uint64_t{2'000'000});  // ≤ 0.0025
  h.observe(std::uint64_t{7'000'000});  // +Inf
  Exposition out;
  out.family("bouncer_mint_duration_seconds", Type::histogram, "Mint latency");
  out.histogram("bouncer_mint_duration_seconds", {}, h);
  EXPECT_EQ(out.text(),
            "# HELP bouncer_mint_duration_seconds Mint latency\n"
            "# TYPE bouncer_mint_duration_seconds histogram\n"
            "bouncer_mint_duration_seconds_bucket{le=\"0.0005\"} 2\n"
            "bouncer_mint_duration_seconds_bucket{le=\"0.001\"} 2\n"
            "bouncer_mint_duration_seconds_bucket{le=\"0.0025\"} 3\n"
            "bouncer_mint_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "bouncer_mint_duration_seconds_sum 0.0099\n"
            "bouncer_mint_duration_seconds_count 4\n");
}

TEST(Exposition, HistogramWithLabelsPutsLeLast) {
  const std::uint64_t bounds[] = {1, 2};
  Histogram h(bounds, 1.0);
  h.observe(std::uint64_t{2});
  Exposition out;
  out.histogram("batch", {{"store", "a\"b"}}, h);
  EXPECT_EQ(out.text(),
            "batch_bucket{store=\"a\\\"b\",le=\"1\"} 0\n"
            "batch_bucket{store=\"a\\\"b\",le=\"2\"} 1\n"
            "batch_bucket{store=\"a\\\"b\",le=\"+Inf\"} 1\n"
            "batch_sum{store=\"a\\\"b\"} 2\n"
            "batch_count{store=\"a\\\"b\"} 1\n");
}

}  // namespace
}  // namespace bouncer::metrics
