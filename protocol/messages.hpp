#pragma once
/// The messages of ModelScope's asynchronous image API, their JSON mapping and their rules.
///
/// Used by the client (to build and check requests, to read answers) and by the mock (to read
/// requests, to reject bad ones with the service's texts and to write answers), so the two speak
/// the same protocol by construction. See shared/docs/modelscope-protocol.md. Pure values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/ratelimit.hpp"
#include "protocol/size.hpp"

namespace zbatch::protocol {

inline constexpr std::string_view default_base_url = "https://api-inference.modelscope.cn";
/// The international endpoint (protocol doc, "What newer public material adds"): the same API
/// under another host, as public material names it; not checked against the live service.
inline constexpr std::string_view international_base_url = "https://api-inference.modelscope.ai";
inline constexpr std::string_view default_model = "Tongyi-MAI/Z-Image-Turbo";
inline constexpr std::string_view submit_path = "/v1/images/generations";
inline constexpr std::string_view task_path_prefix = "/v1/tasks/";
inline constexpr std::string_view async_header = "X-ModelScope-Async-Mode";
inline constexpr std::string_view task_type_header = "X-ModelScope-Task-Type";
inline constexpr std::string_view task_type_image = "image_generation";

inline constexpr std::size_t max_prompt_chars = 1999;  ///< "< 2000 characters" (code points).
inline constexpr std::int64_t max_seed = 2147483647;   ///< 0..2^31-1; omit for a random seed.
inline constexpr int min_steps = 1;
inline constexpr int max_steps = 100;
inline constexpr double min_guidance = 1.5;
inline constexpr double max_guidance = 20.0;

/// The service's own texts, shared by the mock (which sends them) and the tests.
namespace texts {
/// The 400 of a submit without the async header, as a public issue quotes it (protocol doc,
/// "What newer public material adds": sent without a `code`).
inline constexpr std::string_view sync_not_supported =
    "image-gen task currently does not support synchronous calls. Please refer to the "
    "documentation and set header X-ModelScope-Async-Mode=true to switch to asynchronous calling "
    "mode";
inline constexpr std::string_view task_not_found = "task not found";
inline constexpr std::string_view server_busy = "Server is busy, please try again later";
inline constexpr std::string_view moderation = "Output data may contain inappropriate content.";
inline constexpr std::string_view request_limit_exceeded = "Request limit exceeded.";
std::string dynamic_rate_limit(std::string_view model);  ///< "We have to rate limit you ..."
std::string daily_quota(std::string_view model);         ///< "You have exceeded today's quota ..."
/// The 401 of an account not bound to Alibaba Cloud (protocol doc, "What newer public material
/// adds"; body `{"error":{"message":..},"request_id":..}`).
inline constexpr std::string_view unbound_account =
    "Please bind your Alibaba Cloud account before use.";
/// "Model id : <id> , has no provider supported": a model the service cannot serve now, seen
/// as a 400 and as a 429 (same section).
std::string no_provider(std::string_view model);
}  // namespace texts

/// Counts Unicode code points in UTF-8 text (the unit of the prompt limit).
std::size_t utf8_length(std::string_view text);

/// Whether UTF-8 text shows nothing: empty, or only white space (ASCII's, Unicode's White_Space
/// set such as U+00A0 and the ideographic space U+3000) and invisible format characters (zero
/// width space and joiners, U+2060, the BOM U+FEFF). A prompt of such text asks the service for
/// an image of nothing, so zbatch refuses it before paying for it (a new user's check: a prompt
/// of U+3000 alone passed).
bool is_blank(std::string_view text);

/// `loras`: one LoRA as a model id string, or an object of LoRA ids and weights summing to 1.0
/// (protocol doc, "What newer public material adds"; at most `max_loras`, models.hpp).
struct lora_set {
  bool single = false;  ///< Sent as a bare string (then `weights` holds one entry, weight 1).
  std::vector<std::pair<std::string, double>> weights;  ///< In the order given.
  friend bool operator==(const lora_set& a, const lora_set& b) {
    return a.single == b.single && a.weights == b.weights;
  }
};

/// `image_url`: the image an edit model works on, as a string or (FLUX.2-dev) a list.
struct image_url_value {
  bool list = false;  ///< Sent as a JSON array.
  std::vector<std::string> urls;
  friend bool operator==(const image_url_value& a, const image_url_value& b) {
    return a.list == b.list && a.urls == b.urls;
  }
};

/// POST /v1/images/generations body.
struct submit_request {
  std::string model{default_model};
  std::string prompt;
  std::optional<std::string> negative_prompt;
  std::optional<image_size> size;
  std::optional<std::int64_t> seed;
  std::optional<int> steps;
  std::optional<double> guidance;
  std::optional<lora_set> loras;             ///< Only for models that take them (models.hpp).
  std::optional<image_url_value> image_url;  ///< Only for edit models (models.hpp).
};

nlohmann::json to_json(const submit_request& request);
nlohmann::json to_json(const lora_set& loras);
nlohmann::json to_json(const image_url_value& image_url);

/// A rule a request broke: the JSON field and a sentence with the allowed range.
struct field_error {
  std::string field;
  std::string message;
};

/// Checks every field against the protocol's limits; nullopt when the request is valid. The
/// size, `loras` and `image_url` are checked against the model's rules when `request.model` is
/// in `default_catalogue()` (models.hpp); for another model only their shape is checked (sides
/// of at least 1 pixel, LoRA weights summing to 1, non-empty URLs): the service decides the rest.
std::optional<field_error> validate(const submit_request& request);

/// The checks of `validate` that do not depend on the model (what a catalogue-less reader can
/// check): every field's type and range, sizes of at least 1 pixel a side, the shapes of `loras`
/// and `image_url`.
std::optional<field_error> validate_fields(const submit_request& request);

/// Reads a submit body and checks it with `validate_fields` (what the mock answers 400 to before
/// it looks the model up; the model's own rules come after, models.hpp `check_for_model`).
std::variant<submit_request, field_error> parse_submit_body(std::string_view body);

/// 200 answer to a submit: only means "accepted"; its task_status is ignored.
struct submit_accepted {
  std::string task_id;  ///< Opaque text (a UUID or digits): never parsed.
  std::string request_id;
  /// The answer's modelscope-ratelimit-* headers, when it carried any (client::read_submit).
  std::optional<ratelimit_state> ratelimit;
};

enum class task_status { pending, running, processing, succeed, failed, unknown };
std::string_view to_string(task_status status);
/// Unknown values map to `unknown`, which clients treat as still running.
task_status task_status_from_string(std::string_view text);

/// The `input` object of a SUCCEED answer: what the service generated with (protocol doc, "What
/// newer public material adds": `guidanceScale`, `height`, `numInferenceSteps`, `sampler`,
/// `seed`, `timeTaken`; the doc lists no `width`, so none is sent).
struct task_input {
  double guidance_scale = 0;
  int height = 0;
  int num_inference_steps = 0;
  std::string sampler;
  std::int64_t seed = 0;
  std::int64_t time_taken_ms = 0;  ///< `timeTaken`, milliseconds.
};
nlohmann::json to_json(const task_input& input);

/// GET /v1/tasks/{id} answer.
struct task_state {
  std::string task_id;
  std::string request_id;
  task_status status = task_status::pending;
  std::string raw_status;  ///< As sent, e.g. "PROCESSING" or an unknown value.
  std::vector<std::string> output_images;
  int error_code = 0;         ///< errors.code of a FAILED task.
  std::string error_message;  ///< errors.message of a FAILED task.
  /// SUCCEED only, when the sender knows them: `time_taken` (ms) and `input` (the mock sends
  /// both; the client does not read them).
  std::optional<std::int64_t> time_taken_ms;
  std::optional<task_input> input;
  /// The answer's modelscope-ratelimit-* headers, when it carried any (client::read_poll).
  std::optional<ratelimit_state> ratelimit;
  bool terminal() const { return status == task_status::succeed || status == task_status::failed; }
};

/// The body the service sends for a task in this state (running, done or failed shape).
nlohmann::json to_json(const task_state& state);

/// A JSON error body of the image/task endpoints:
/// {"errors":{"code":N,"message":..},"request_id":..}.
std::string error_body(int code, std::string_view message, std::string_view request_id);
/// The OpenAI-style error body seen on newer 429s: {"error":{"message":..}}.
std::string openai_error_body(std::string_view message);

}  // namespace zbatch::protocol
