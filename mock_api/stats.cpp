#include "mock_api/stats.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <sstream>
#include <utility>

namespace zbatch::mock {
namespace {

using nlohmann::json;
/// A counter's entries by name, sorted as both reports list them (as std::map orders names).
using entries = std::vector<std::pair<std::string_view, std::uint64_t>>;

template <typename Enum>
std::string_view name_of(std::size_t index) {
  return to_string(static_cast<Enum>(index));
}

/// The non-zero counts of a dimension, by name.
template <std::size_t N, typename Name>
entries named(const std::array<std::uint64_t, N>& counts, Name name) {
  entries out;
  for (std::size_t i = 0; i < N; ++i) {
    if (counts[i] > 0) {
      out.emplace_back(name(i), counts[i]);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

json object_of(const entries& list) {
  json out = json::object();
  for (const auto& [name, count] : list) {
    out[std::string(name)] = count;
  }
  return out;
}

/// The endpoints in name order.
std::array<endpoint, endpoint_count> endpoints_by_name() {
  std::array<endpoint, endpoint_count> out{};
  for (std::size_t i = 0; i < endpoint_count; ++i) {
    out[i] = static_cast<endpoint>(i);
  }
  std::sort(out.begin(), out.end(),
            [](endpoint a, endpoint b) { return to_string(a) < to_string(b); });
  return out;
}

// ---- Prometheus text ---------------------------------------------------------------------------

void family(std::ostream& m, std::string_view name, std::string_view help, std::string_view type) {
  m << "# HELP zbatch_mock_" << name << ' ' << help << "\n# TYPE zbatch_mock_" << name << ' '
    << type << "\n";
}

void samples(std::ostream& m, std::string_view name, std::string_view label, const entries& list) {
  for (const auto& [value, count] : list) {
    m << "zbatch_mock_" << name << '{' << label << "=\"" << value << "\"} " << count << "\n";
  }
}

template <typename T>
void sample(std::ostream& m, std::string_view name, const T& value) {
  m << "zbatch_mock_" << name << ' ' << value << "\n";
}

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
    }
    out.push_back(c == '\n' ? ' ' : c);
  }
  return out;
}

}  // namespace

void statistics::count_request(endpoint where, const reply& answer) {
  auto& by_status = requests_[static_cast<std::size_t>(where)];
  char text[16];
  std::string_view label;
  switch (answer.fault) {
    case transport_fault::reset:
    case transport_fault::close:
    case transport_fault::hang:
      label = to_string(answer.fault);
      break;
    default: {
      const auto end = std::to_chars(text, text + sizeof text, answer.response.status).ptr;
      label = std::string_view(text, static_cast<std::size_t>(end - text));
    }
  }
  auto it = by_status.find(label);
  if (it == by_status.end()) {
    it = by_status.emplace(std::string(label), 0).first;
  }
  ++it->second;
}

std::string_view statistics::finished_name(std::size_t index) {
  return protocol::to_string(terminal_states_[index]);
}

std::uint64_t statistics::tasks_created() const {
  return std::accumulate(created_.begin(), created_.end(), std::uint64_t{0});
}

void statistics::count_finished(protocol::task_status state) {
  for (std::size_t i = 0; i < terminal_states_.size(); ++i) {
    if (terminal_states_[i] == state) {
      ++finished_[i];
    }
  }
}

statistics::request_counts statistics::requests() const {
  request_counts out;
  for (std::size_t i = 0; i < endpoint_count; ++i) {
    if (!requests_[i].empty()) {
      out[std::string(to_string(static_cast<endpoint>(i)))].insert(requests_[i].begin(),
                                                                   requests_[i].end());
    }
  }
  return out;
}

json statistics::to_json(duration now, std::uint64_t seed, const throttle& limits,
                         const std::vector<image_report>& images) const {
  json requests = json::object();
  for (std::size_t i = 0; i < endpoint_count; ++i) {
    if (!requests_[i].empty()) {
      requests[std::string(to_string(static_cast<endpoint>(i)))] = requests_[i];
    }
  }
  json keys = json::object();
  for (const auto& [label, k] : limits.keys()) {
    keys[label] = {{"submits", k.submits},
                   {"accepted", k.accepted},
                   {"in_flight", k.in_flight.size()},
                   {"in_flight_peak", k.in_flight_peak},
                   {"credits_used_today", k.used},
                   {"calls_today_by_model", k.model_calls}};
  }
  json images_json = json::array();
  for (const auto& image : images) {
    images_json.push_back({{"prompt", image.prompt},
                           {"seed", image.seed},
                           {"size", image.size},
                           {"submits", image.submits}});
  }
  return json{
      {"clock_s", to_seconds(now)},
      {"seed", seed},
      {"requests", requests},
      {"faults", object_of(named(faults_, name_of<fault_kind>))},
      {"rate_limited", object_of(named(refusals_, name_of<refusal>))},
      {"tasks",
       {{"created", tasks_created()},
        {"by_fate", object_of(named(created_, name_of<task_fate>))},
        {"finished", object_of(named(finished_, finished_name))},
        {"in_flight", limits.in_flight()}}},
      {"credits", {{"used", limits.credits_charged()}, {"refunded", limits.credits_refunded()}}},
      {"keys", keys},
      {"images", images_json}};
}

std::string statistics::prometheus(const throttle& limits) const {
  std::ostringstream m;
  family(m, "requests_total", "Requests by endpoint and status (or transport fault).", "counter");
  for (const auto where : endpoints_by_name()) {
    for (const auto& [status, count] : requests_[static_cast<std::size_t>(where)]) {
      m << "zbatch_mock_requests_total{endpoint=\"" << to_string(where) << "\",status=\"" << status
        << "\"} " << count << "\n";
    }
  }
  family(m, "faults_total", "Faults injected by kind.", "counter");
  samples(m, "faults_total", "kind", named(faults_, name_of<fault_kind>));
  family(m, "rate_limited_total", "429 answers by kind.", "counter");
  samples(m, "rate_limited_total", "kind", named(refusals_, name_of<refusal>));
  family(m, "tasks_created_total", "Tasks created (paid submits).", "counter");
  sample(m, "tasks_created_total", tasks_created());
  family(m, "tasks_total", "Tasks by the fate decided at submit.", "counter");
  samples(m, "tasks_total", "fate", named(created_, name_of<task_fate>));
  family(m, "tasks_finished_total", "Terminal states first reported to a poll.", "counter");
  samples(m, "tasks_finished_total", "state", named(finished_, finished_name));
  family(m, "tasks_in_flight", "Tasks holding an in-flight slot.", "gauge");
  sample(m, "tasks_in_flight", limits.in_flight());
  family(m, "credits_used_total", "Credits charged.", "counter");
  sample(m, "credits_used_total", limits.credits_charged());
  family(m, "credits_refunded_total", "Credits refunded for system failures.", "counter");
  sample(m, "credits_refunded_total", limits.credits_refunded());
  family(m, "submits_total", "Submits by API key label.", "counter");
  for (const auto& [label, k] : limits.keys()) {
    m << "zbatch_mock_submits_total{key=\"" << escape_label(label) << "\"} " << k.submits << "\n";
  }
  return m.str();
}

}  // namespace zbatch::mock
