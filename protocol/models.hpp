#pragma once
/// The model catalogue: per model id, the sizes it makes, whether it takes `loras` and
/// `image_url` (a string or a list) and their rules, its generation time by size and its cost.
///
/// Shared by the client (which checks a request against its model's rules before sending
/// anything) and the mock (which answers 404 to an uncatalogued model and 400 to a request that
/// breaks its model's rules); the two meet only here. The defaults come from
/// shared/docs/modelscope-protocol.md ("Flow" and "What newer public material adds"); where the
/// doc gives no figure, the entry says so and picks one. The mock's config can extend or change
/// the catalogue (mock_api/config.hpp); the client uses `default_catalogue()`. Plain values and
/// pure functions; `default_catalogue()` is built once and thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"
#include "protocol/size.hpp"

namespace zbatch::protocol {

/// Whether and how a model takes `image_url` (the image an edit model works on).
enum class image_url_kind {
  none,    ///< Not taken: a request with `image_url` is refused.
  string,  ///< One URL as a JSON string (Qwen-Image-Edit, FLUX.1-Kontext).
  list,    ///< A JSON array of URLs (FLUX.2-dev).
};
std::string_view to_string(image_url_kind kind);  ///< "none", "string", "list"
/// The names `to_string` gives, in enum order (for config readers' allowed lists).
const std::vector<std::string>& image_url_kind_names();

/// One measured (or chosen) generation time: a `side`×`side` image takes `ms` milliseconds
/// (the median, before the mock's spread).
struct latency_point {
  int side = 0;
  double ms = 0;
};

struct model_rules {
  std::string id;
  int min_side = min_side_default;  ///< Smallest width or height, pixels.
  int max_side = max_side_default;  ///< Largest width or height, pixels.
  bool loras = false;               ///< Takes `loras`.
  image_url_kind image_url = image_url_kind::none;
  bool image_url_required = false;  ///< An edit model needs the image it edits.
  int max_image_urls = 1;           ///< Most URLs in a list (`image_url_kind::list`).
  double cost = 2;                  ///< Credits (magicubes) one task costs.
  /// Generation time by size, ascending sides, at least one point (generation_ms).
  std::vector<latency_point> latency;

  static constexpr int min_side_default = 512;
  static constexpr int max_side_default = 2048;
};

using model_catalogue = std::vector<model_rules>;

/// Most LoRAs one request may name (protocol doc: "an object of up to 6 ids").
inline constexpr std::size_t max_loras = 6;

/// Tongyi-MAI/Z-Image-Turbo, Qwen/Qwen-Image, black-forest-labs/FLUX.2-dev and
/// Qwen/Qwen-Image-Edit with the rules the protocol doc gives (see models.cpp for each figure's
/// source and for the figures it does not give).
const model_catalogue& default_catalogue();

/// The entry for `id`, or nullptr when the catalogue has none.
const model_rules* find_model(const model_catalogue& catalogue, std::string_view id);

/// "a, b, c": the catalogue's ids, for messages that list the allowed models.
std::string model_ids(const model_catalogue& catalogue);

/// Checks the size, `loras` and `image_url` of `request` against `rules`; nullopt when they
/// fit. The message names the field, the model and what is allowed, e.g. `size 2048x2048: width
/// 2048 is out of range for Qwen/Qwen-Image (allowed 64..1664)`.
std::optional<field_error> check_for_model(const submit_request& request, const model_rules& rules);

/// `validate(request)` and then `check_for_model`: what the client checks before sending.
std::optional<field_error> validate(const submit_request& request, const model_rules& rules);

/// The median generation time of a `size` image with this model, milliseconds: interpolated
/// between the latency points in log(pixels)-log(ms) (a power law between neighbours), extended
/// past the ends with the nearest segment's slope, proportional to pixels with a single point.
/// 0 when the model has no latency points.
double generation_ms(const model_rules& rules, const image_size& size);

}  // namespace zbatch::protocol
