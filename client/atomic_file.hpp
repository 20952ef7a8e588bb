#pragma once
/// Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename
/// it over the target, fsync the directory. A reader (or a rerun after a crash) sees either the
/// old complete file or the new complete file, never a torn one. Thread-safe for distinct paths.

#include <filesystem>
#include <string_view>

namespace zbatch::client {

/// Replaces `path` with `bytes` atomically. Throws std::system_error whose what() names the path
/// and the failing step.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

}  // namespace zbatch::client
