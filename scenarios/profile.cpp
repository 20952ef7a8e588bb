#include "scenarios/profile.hpp"

#include <cmath>

#include "base/json_reader.hpp"
#include "protocol/messages.hpp"
#include "protocol/models.hpp"

namespace zbatch::scenarios {
namespace {

double median_ms(const mock::latency_spec& spec) {
  switch (spec.type) {
    case mock::latency_spec::kind::fixed:
      return spec.ms;
    case mock::latency_spec::kind::uniform:
      return (spec.min_ms + spec.max_ms) / 2;
    case mock::latency_spec::kind::lognormal:
      return spec.median_ms;
  }
  return 0;
}

void scale(mock::latency_spec& spec, double factor) {
  spec.ms *= factor;
  spec.min_ms *= factor;
  spec.max_ms *= factor;
  spec.median_ms *= factor;
  spec.p99_ms *= factor;
}

}  // namespace

result<mock::mock_config> resolve_profile(const scenario& s) {
  const std::string source = s.file.string().empty() ? s.name : s.file.string();
  if (s.profile.name == "inline") {
    return mock::config_from_json(s.profile.inline_config, source + ": profile.inline");
  }
  const auto text = mock::profile_text(s.profile.name);
  if (!text) {
    std::string names;
    for (const auto& name : mock::profile_names()) {
      names += (names.empty() ? "" : ", ") + name;
    }
    return not_found_error(source + ": profile: \"" + s.profile.name +
                           "\" is not a shipped profile (allowed " + names + ", or inline)");
  }
  auto document = base::parse_json(*text, "profile " + s.profile.name);
  if (!document.ok()) {
    return document.status();
  }
  if (!s.profile.overrides.is_null()) {
    document->merge_patch(s.profile.overrides);
  }
  return mock::config_from_json(*document,
                                source + ": profile.overrides over profile " + s.profile.name);
}

api_limits limits_from_config(const mock::mock_config& config) {
  api_limits out;
  out.in_flight_cap = config.throttle.in_flight_cap;
  if (config.throttle.rate.enabled) {
    out.submit_rate_per_s = config.throttle.rate.per_second;
    out.submit_burst = std::max(1.0, config.throttle.rate.burst);
    if (config.throttle.rate.scope != "submits") {
      out.explanation = "the rate limit also counts polls, which the bound ignores";
    }
  }
  const auto& dynamic = config.throttle.dynamic;
  if (out.in_flight_cap > 0 && dynamic.mode == "schedule") {
    limit_schedule schedule;
    schedule.base = out.in_flight_cap;
    schedule.period_s = dynamic.schedule_period_s;
    for (const auto& w : dynamic.schedule) {
      schedule.windows.push_back({w.from_s, w.to_s, w.capacity});
    }
    out.schedule = std::move(schedule);
  }
  const double queue = median_ms(config.generation.queue);
  const double generation = median_ms(config.generation.time);
  const double reference = config.generation.reference_pixels;
  const double exponent = config.generation.size_exponent;
  // Submit, the poll that sees SUCCEED and the download each take one response delay.
  const double responses = 3 * median_ms(config.response_delay);
  // Scenario images name no model, so the client sends the default one (protocol/messages.hpp).
  const auto* rules = protocol::find_model(config.catalogue, protocol::default_model);
  if (config.generation.size_latency == "catalogue" && rules) {
    out.image_ms = [=, rules = *rules](const protocol::image_size& size) {
      return queue + protocol::generation_ms(rules, size) + responses;
    };
    return out;
  }
  out.image_ms = [=](const protocol::image_size& size) {
    const double pixels = static_cast<double>(size.width) * size.height;
    return queue + generation * std::pow(pixels / reference, exponent) + responses;
  };
  return out;
}

mock::mock_config scale_config(mock::mock_config config, double factor) {
  scale(config.generation.queue, factor);
  scale(config.generation.time, factor);
  for (auto& model : config.catalogue) {
    for (auto& point : model.latency) {
      point.ms *= factor;  // the calibrated medians of size_latency "catalogue"
    }
  }
  scale(config.response_delay, factor);
  auto& throttle = config.throttle;
  for (auto& window : throttle.dynamic.schedule) {
    window.from_s *= factor;
    window.to_s *= factor;
  }
  throttle.dynamic.schedule_period_s *= factor;
  throttle.rate.per_second /= factor;
  throttle.retry_after_s *= factor;
  if (throttle.quota.first_reset_s) {
    *throttle.quota.first_reset_s *= factor;
  }
  auto& faults = config.faults;
  for (auto& outage : faults.outages) {
    outage.from_s *= factor;
    outage.to_s *= factor;
    outage.period_s *= factor;
  }
  faults.hang_max_ms *= factor;
  faults.slow_ms *= factor;
  return config;
}

}  // namespace zbatch::scenarios
