#include "mock_api/fault.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <utility>
#include <vector>

#include "protocol/messages.hpp"

namespace zbatch::mock {
namespace {

using protocol::wire_request;
using protocol::wire_response;

void set_bad(std::string& error, std::string_view header, std::string_view value,
             const char* allowed) {
  error = std::string(header) + ": unknown value '" + std::string(value) + "' (allowed " + allowed +
          ")";
}

/// Reads a milliseconds override; true when the header is present (`error` set when bad).
bool read_ms(const wire_request& request, std::string_view header, double& out,
             std::string& error) {
  const auto value = request.headers.get(header);
  if (!value) {
    return false;
  }
  try {
    std::size_t used = 0;
    out = std::stod(*value, &used);
    if (used != value->size() || out < 0 || out > 3'600'000) {
      throw std::invalid_argument("range");
    }
  } catch (const std::exception&) {
    set_bad(error, header, *value, "milliseconds 0..3600000");
  }
  return true;
}

void read_abort(const wire_request& request, fault_overrides& o) {
  const auto value = request.headers.get(fault_headers::abort);
  if (!value) {
    return;
  }
  using abort_kind = fault_overrides::abort_kind;
  const std::string_view a = trim_blanks(*value);
  const int code =
      a.size() == 3 && std::all_of(a.begin(), a.end(), ::isdigit) ? std::stoi(std::string(a)) : 0;
  if (a == "busy") {
    o.abort = abort_kind::busy;
  } else if (a == "quota") {
    o.abort = abort_kind::quota;
  } else if (code >= 400 && code <= 599) {
    o.abort_status = code;
    o.abort = code == 429 ? abort_kind::rate_limited : abort_kind::status;
  } else {
    set_bad(o.error, fault_headers::abort, a, "a status 400..599, busy, quota");
  }
}

/// Reads a header naming one of `choices` (by `to_string`) into `out`; a bad value sets `error`.
template <typename Kind>
void read_choice(const wire_request& request, std::string_view header,
                 std::initializer_list<Kind> choices, const char* allowed, std::optional<Kind>& out,
                 std::string& error) {
  const auto value = request.headers.get(header);
  if (!value) {
    return;
  }
  const std::string_view text = trim_blanks(*value);
  for (const auto choice : choices) {
    if (text == to_string(choice)) {
      out = choice;
      return;
    }
  }
  set_bad(error, header, text, allowed);
}

wire_response busy_answer(std::string_view request_id) {
  return error_response(503, protocol::texts::server_busy, request_id);
}

/// An injected 5xx (or other status) without the busy text.
wire_response server_error(int status, std::string_view request_id) {
  if (status == 502) {
    wire_response response;
    response.status = 502;
    response.headers.set("Content-Type", "text/html");
    response.body =
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
        "Gateway</h1></center></body></html>";
    return response;
  }
  const char* text = status == 500   ? "Internal Server Error"
                     : status == 503 ? "Service Unavailable"
                                     : "Injected failure";
  return error_response(status, text, request_id);
}

/// The status of the first outage window containing `now`; nullopt outside every window.
std::optional<int> outage_status(const std::vector<outage_window>& outages, duration now) {
  const double t = to_seconds(now);
  for (const auto& o : outages) {
    const bool inside =
        o.period_s > 0 ? t >= o.from_s && std::fmod(t - o.from_s, o.period_s) < o.to_s - o.from_s
                       : t >= o.from_s && t < o.to_s;
    if (inside) {
      return o.status;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(fault_kind kind) {
  static constexpr std::string_view names[fault_kind_count] = {"http_500",
                                                               "http_502",
                                                               "http_503",
                                                               "busy",
                                                               "reset",
                                                               "close",
                                                               "hang",
                                                               "malformed",
                                                               "truncate",
                                                               "slow",
                                                               "abort",
                                                               "delay",
                                                               "fail_first",
                                                               "outage",
                                                               "task_moderation",
                                                               "task_system",
                                                               "task_never",
                                                               "unbound_401",
                                                               "no_provider_400",
                                                               "no_provider_429",
                                                               "empty_200"};
  return names[static_cast<std::size_t>(kind)];
}

std::string_view to_string(task_fate fate) {
  static constexpr std::string_view names[task_fate_count] = {"succeed", "moderation", "system",
                                                              "never"};
  return names[static_cast<std::size_t>(fate)];
}

std::optional<fault_kind> fault_of(task_fate fate) {
  switch (fate) {
    case task_fate::succeed:
      return std::nullopt;
    case task_fate::moderation:
      return fault_kind::task_moderation;
    case task_fate::system:
      return fault_kind::task_system;
    case task_fate::never:
      return fault_kind::task_never;
  }
  return std::nullopt;
}

fault_overrides read_fault_overrides(const wire_request& request) {
  fault_overrides o;
  // Nearly every request carries no fault header: one pass over the names spares five
  // case-insensitive lookups.
  constexpr std::string_view prefix = "x-zbatch-fault-";
  const auto& fields = request.headers.fields();
  if (std::none_of(fields.begin(), fields.end(), [&](const auto& field) {
        return field.first.size() > prefix.size() &&
               protocol::iequals(std::string_view(field.first).substr(0, prefix.size()), prefix);
      })) {
    return o;
  }
  o.present = true;
  // In this order: when several are bad, the last one is reported.
  read_abort(request, o);
  read_ms(request, fault_headers::delay_ms, o.delay_ms, o.error);
  double generation = 0;
  if (read_ms(request, fault_headers::generation_ms, generation, o.error)) {
    o.generation_ms = generation;
  }
  read_choice(request, fault_headers::transport,
              {fault_kind::reset, fault_kind::close, fault_kind::hang, fault_kind::truncate,
               fault_kind::malformed, fault_kind::slow},
              "reset, close, hang, truncate, malformed, slow", o.transport, o.error);
  read_choice(request, fault_headers::task,
              {task_fate::succeed, task_fate::moderation, task_fate::system, task_fate::never},
              "succeed, moderation, system, never", o.task, o.error);
  return o;
}

std::optional<fault_kind> draw_fault(const fault_config& config, endpoint where, double u,
                                     const fault_overrides& overrides) {
  if (overrides.transport) {
    return overrides.transport;
  }
  const endpoint_faults* f = where == endpoint::submit     ? &config.submit
                             : where == endpoint::poll     ? &config.poll
                             : where == endpoint::download ? &config.download
                                                           : nullptr;
  if (f == nullptr) {
    return std::nullopt;
  }
  const std::pair<fault_kind, double> kinds[] = {{fault_kind::http_500, f->http_500},
                                                 {fault_kind::http_502, f->http_502},
                                                 {fault_kind::http_503, f->http_503},
                                                 {fault_kind::busy, f->busy},
                                                 {fault_kind::reset, f->reset},
                                                 {fault_kind::close, f->close},
                                                 {fault_kind::hang, f->hang},
                                                 {fault_kind::malformed, f->malformed},
                                                 {fault_kind::truncate, f->truncate},
                                                 {fault_kind::slow, f->slow},
                                                 {fault_kind::unbound_401, f->unbound_401},
                                                 {fault_kind::no_provider_400, f->no_provider_400},
                                                 {fault_kind::no_provider_429, f->no_provider_429},
                                                 {fault_kind::empty_200, f->empty_200}};
  double edge = 0;
  for (const auto& [kind, p] : kinds) {
    edge += p;
    if (u < edge) {
      return kind;
    }
  }
  return std::nullopt;
}

task_fate draw_fate(const task_faults& faults, double u, const fault_overrides& overrides) {
  if (overrides.task) {
    return *overrides.task;
  }
  if (u < faults.moderation) {
    return task_fate::moderation;
  }
  if (u < faults.moderation + faults.system) {
    return task_fate::system;
  }
  if (u < faults.moderation + faults.system + faults.never) {
    return task_fate::never;
  }
  return task_fate::succeed;
}

std::optional<early_fault> early_fault_of(const fault_config& config, endpoint where,
                                          std::uint64_t seen, const fault_overrides& overrides,
                                          std::optional<fault_kind> drawn, duration now) {
  using abort_kind = fault_overrides::abort_kind;
  switch (overrides.abort) {
    case abort_kind::none:
      break;
    case abort_kind::status:
      return early_fault{fault_kind::abort, overrides.abort_status};
    case abort_kind::busy:
      return early_fault{fault_kind::abort, 503};
    case abort_kind::rate_limited:
    case abort_kind::quota:
      return early_fault{fault_kind::abort, 429};
  }
  const int fail_first = where == endpoint::submit ? config.fail_first.submit
                         : where == endpoint::poll ? config.fail_first.poll
                                                   : config.fail_first.download;
  if (seen <= static_cast<std::uint64_t>(fail_first)) {
    return early_fault{fault_kind::fail_first, config.fail_first.status};
  }
  if (where == endpoint::submit) {
    if (const auto status = outage_status(config.outages, now)) {
      return early_fault{fault_kind::outage, *status};
    }
  }
  if (!drawn) {
    return std::nullopt;
  }
  switch (*drawn) {
    case fault_kind::http_500:
      return early_fault{*drawn, 500};
    case fault_kind::http_502:
      return early_fault{*drawn, 502};
    case fault_kind::http_503:
    case fault_kind::busy:
      return early_fault{*drawn, 503};
    case fault_kind::unbound_401:
      return early_fault{*drawn, 401};
    case fault_kind::no_provider_400:
      return early_fault{*drawn, 400};
    case fault_kind::no_provider_429:
      return early_fault{*drawn, 429};
    default:
      return std::nullopt;
  }
}

wire_response early_fault_answer(const early_fault& fault, const fault_overrides& overrides,
                                 std::string_view request_id, std::string_view model_id) {
  // The newer shapes come in the OpenAI-style envelope, the 401 with a request_id.
  const auto openai = [&](std::string_view message, bool with_request_id) {
    auto body = nlohmann::json{{"error", {{"message", message}}}};
    if (with_request_id) {
      body["request_id"] = request_id;
    }
    return json_response(fault.status, body.dump());
  };
  switch (fault.kind) {
    case fault_kind::unbound_401:
      return openai(protocol::texts::unbound_account, true);
    case fault_kind::no_provider_400:
    case fault_kind::no_provider_429:
      return openai(protocol::texts::no_provider(model_id), false);
    case fault_kind::abort:
      if (overrides.abort == fault_overrides::abort_kind::busy) {
        return busy_answer(request_id);
      }
      return fault.status >= 500 ? server_error(fault.status, request_id)
                                 : error_response(fault.status, "Injected failure", request_id);
    case fault_kind::busy:
      return busy_answer(request_id);
    case fault_kind::outage: {
      // The busy body (its code stays 503) under the window's status.
      auto response = busy_answer(request_id);
      response.status = fault.status;
      return response;
    }
    default:
      return server_error(fault.status, request_id);
  }
}

bool drops_connection(fault_kind kind) {
  return kind == fault_kind::reset || kind == fault_kind::close || kind == fault_kind::hang;
}

void apply_fault(fault_kind kind, const fault_config& config, body_kind body,
                 std::string_view request_id, reply& out) {
  if (kind == fault_kind::malformed && body == body_kind::image) {
    // The right headers around bytes that are not a PNG.
    out.response.body = "not a png: upstream storage error";
    return;
  }
  out.hold_max = from_ms(config.hang_max_ms);
  switch (kind) {
    case fault_kind::reset:
      out.fault = transport_fault::reset;
      break;
    case fault_kind::close:
      out.fault = transport_fault::close;
      break;
    case fault_kind::hang:
      out.fault = transport_fault::hang;
      break;
    case fault_kind::truncate:
      out.fault = transport_fault::truncate;
      out.truncate_at = static_cast<std::size_t>(static_cast<double>(out.response.body.size()) *
                                                 config.truncate_fraction);
      break;
    case fault_kind::slow:
      out.fault = transport_fault::slow;
      out.dribble = from_ms(config.slow_ms);
      break;
    case fault_kind::empty_200:
      out.response.status = 200;
      out.response.body.clear();
      break;
    case fault_kind::malformed:
      // A 200 whose body is not JSON: what a confused gateway or a cut upstream produces.
      out.response.status = 200;
      out.response.headers.set("Content-Type", "application/json");
      out.response.body =
          "{\"request_id\": \"" + std::string(request_id) + "\", \"task_status\": RUNNING, ";
      break;
    default:
      break;
  }
}

}  // namespace zbatch::mock
