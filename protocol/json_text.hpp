#pragma once
/// Writing JSON strings by appending, byte-identical to nlohmann's dump().
///
/// The mock's answer bodies and the client's submit bodies are built by appending rather than
/// through a DOM (a DOM per request was a large part of a simulated run). Pure function.

#include <string>
#include <string_view>

namespace zbatch::protocol {

/// Appends `text` as a JSON string literal exactly as nlohmann's dump() writes it: printable
/// ASCII without '"' or '\\' is copied between quotes; anything else goes through nlohmann, so
/// escaping and UTF-8 handling stay its own (invalid UTF-8 throws nlohmann's type_error, as a
/// dump of the same DOM would).
void append_json_string(std::string& out, std::string_view text);

}  // namespace zbatch::protocol
