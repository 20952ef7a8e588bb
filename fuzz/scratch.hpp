#pragma once
/// A scratch directory for the targets whose reader takes a file (the batch file, the journal):
/// one per process, in /dev/shm when it exists (a file write per execution costs little there),
/// else in $TMPDIR or /tmp, removed at exit. Used by one fuzz target's thread.

#include <filesystem>
#include <string_view>

namespace zbatch::fuzz {

/// The process's scratch directory (created on first use).
const std::filesystem::path& scratch_dir();

/// Replaces `file` with exactly `bytes`; aborts when it cannot (the target could test nothing).
void write_file(const std::filesystem::path& file, std::string_view bytes);

}  // namespace zbatch::fuzz
