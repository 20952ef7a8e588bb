#include "fuzz/describe.hpp"

namespace zbatch::fuzz {
namespace {

std::string describe(const std::optional<protocol::ratelimit_state>& limits) {
  if (!limits) {
    return "-";
  }
  const auto number = [](const std::optional<long long>& n) {
    return n ? std::to_string(*n) : std::string("-");
  };
  return number(limits->account_limit) + "/" + number(limits->account_remaining) + "/" +
         number(limits->model_limit) + "/" + number(limits->model_remaining);
}

}  // namespace

std::string describe(const protocol::api_error& e) {
  return std::string(protocol::to_string(e.kind)) + "|" + std::to_string(e.http_status) + "|" +
         std::to_string(e.service_code) + "|" + e.code_name + "|" + e.message + "|" + e.request_id +
         "|" + (e.retry_after_ms ? "after" : "-") + "|" + (e.retry_at_unix_s ? "at" : "-") + "|" +
         (e.ambiguous ? "ambiguous" : "sure") + "|" + (e.unsent ? "unsent" : "sent") + "|" +
         (e.unknown_429 ? "unknown" : "known") + "|" + (e.from_gateway ? "gateway" : "origin") +
         "|" + describe(e.ratelimit);
}

std::string describe(const std::optional<protocol::api_error>& e) {
  return e ? describe(*e) : "none";
}

std::string describe(const protocol::error_text& t) {
  return t.message + "|" + t.request_id + "|" + std::to_string(t.code) + "|" + t.code_name + "|" +
         (t.envelope ? "envelope" : "bare");
}

std::string describe(const client::result<protocol::task_state>& r) {
  if (!r.ok()) {
    return "error " + describe(r.error());
  }
  const auto& s = r.value();
  std::string out = "state " + s.task_id + "|" + s.request_id + "|" +
                    std::string(protocol::to_string(s.status)) + "|" + s.raw_status + "|" +
                    std::to_string(s.error_code) + "|" + s.error_message + "|" +
                    describe(s.ratelimit) + "|";
  for (const auto& url : s.output_images) {
    out += url + ",";
  }
  return out;
}

std::string describe(const client::result<protocol::submit_accepted>& r) {
  return r.ok() ? "accepted " + r.value().task_id + "|" + r.value().request_id + "|" +
                      describe(r.value().ratelimit)
                : "error " + describe(r.error());
}

}  // namespace zbatch::fuzz
