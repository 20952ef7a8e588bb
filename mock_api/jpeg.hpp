#pragma once
/// The mock's images as JPEG (libjpeg-turbo), for a config whose `images.format` is "jpeg".
///
/// The same tiles as `render_png` (mock_api/png.hpp), so a task's picture is the same in either
/// format; only the encoding differs (baseline JPEG, quality 85, 4:2:0). Pure function,
/// thread-safe (one libjpeg compressor per call).

#include <cstdint>
#include <string>
#include <string_view>

namespace zbatch::mock {

/// The mock's image for a task as JPEG bytes: same (prompt, seed, size) → same bytes. Throws
/// std::runtime_error when libjpeg fails (it does not for sizes > 0).
std::string render_jpeg(std::string_view prompt, std::int64_t seed, int width, int height);

}  // namespace zbatch::mock
