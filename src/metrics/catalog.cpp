#include "metrics/catalog.h"

#include "metrics/process.h"

namespace bouncer::metrics {

void SampledFamily::set(std::vector<std::pair<std::string, double>> values) {
  std::lock_guard lock(mutex_);
  values_ = std::move(values);
}

void SampledFamily::render(Exposition& out, std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [value, sample] : values_) out.sample(name, {{label_, value}}, sample);
}

Catalog& catalog() {
  static Catalog instance;
  return instance;
}

std::string render(Catalog& c) {
  sample_process(c);
  Exposition out;
#define BOUNCER_RENDER_COUNTER(member, name, help) \
  out.family(name, Type::counter, help);           \
  out.sample(name, {}, c.member.value());
#define BOUNCER_RENDER_COUNTERS(member, name, label, values, help) \
  out.family(name, Type::counter, help);                           \
  c.member.render(out, name);
#define BOUNCER_RENDER_HISTOGRAM(member, name, bounds, divisor, help) \
  out.family(name, Type::histogram, help);                            \
  out.histogram(name, {}, c.member);
#define BOUNCER_RENDER_SAMPLED(member, name, type, help) \
  out.family(name, type, help);                          \
  out.sample(name, {}, c.member.value());
#define BOUNCER_RENDER_SAMPLED_BY(member, name, type, label, help) \
  out.family(name, type, help);                                    \
  c.member.render(out, name);
  BOUNCER_METRICS(BOUNCER_RENDER_COUNTER, BOUNCER_RENDER_COUNTERS, BOUNCER_RENDER_HISTOGRAM, BOUNCER_RENDER_SAMPLED,
                  BOUNCER_RENDER_SAMPLED_BY)
#undef BOUNCER_RENDER_COUNTER
#undef BOUNCER_RENDER_COUNTERS
#undef BOUNCER_RENDER_HISTOGRAM
#undef BOUNCER_RENDER_SAMPLED
#undef BOUNCER_RENDER_SAMPLED_BY
  return out.take();
}

std::vector<FamilyInfo> families() {
  std::vector<FamilyInfo> out;
#define BOUNCER_INFO_COUNTER(member, name, help) out.push_back({name, Type::counter, help});
#define BOUNCER_INFO_COUNTERS(member, name, label, values, help) out.push_back({name, Type::counter, help});
#define BOUNCER_INFO_HISTOGRAM(member, name, bounds, divisor, help) out.push_back({name, Type::histogram, help});
#define BOUNCER_INFO_SAMPLED(member, name, type, help) out.push_back({name, type, help});
#define BOUNCER_INFO_SAMPLED_BY(member, name, type, label, help) out.push_back({name, type, help});
  BOUNCER_METRICS(BOUNCER_INFO_COUNTER, BOUNCER_INFO_COUNTERS, BOUNCER_INFO_HISTOGRAM, BOUNCER_INFO_SAMPLED,
                  BOUNCER_INFO_SAMPLED_BY)
#undef BOUNCER_INFO_COUNTER
#undef BOUNCER_INFO_COUNTERS
#undef BOUNCER_INFO_HISTOGRAM
#undef BOUNCER_INFO_SAMPLED
#undef BOUNCER_INFO_SAMPLED_BY
  return out;
}

}  // namespace bouncer::metrics
