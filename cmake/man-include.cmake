# Writes the help2man include file for the zbatch man page: each subcommand's --help as its own
# subsection (help2man itself reads only `zbatch --help` and `zbatch --version`), the
# environment and the files. Run as: cmake -DZBATCH=path/to/zbatch -DOUTPUT=... -P man-include.cmake
set(commands "generate" "mock" "scenario run" "scenario list" "report render" "report compare"
             "strategy show" "strategy list")
set(text "[COMMANDS]\n")
foreach(command IN LISTS commands)
  separate_arguments(args UNIX_COMMAND "${command}")
  execute_process(COMMAND "${ZBATCH}" ${args} --help OUTPUT_VARIABLE help RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "zbatch ${command} --help failed")
  endif()
  # roff: a backslash is \e; a line starting with . or ' is escaped with \&.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(APPEND text ".SS \"zbatch ${command}\"\n.nf\n${help}.fi\n")
endforeach()
string(APPEND text "[ENVIRONMENT]
.TP
.B MODELSCOPE_API_KEY
The API key of generate and scenario run --mode live, unless --api-key-file is given. It appears
in no output, journal or manifest.
.TP
.B NO_COLOR
When set (to anything non-empty), generate prints no colour; colour is used on a terminal only.
.TP
.B COLUMNS
The width of the progress bar when the terminal's size cannot be read.
[FILES]
.TP
.I DIR/journal.jsonl, DIR/manifest.json
What generate keeps in --out: every accepted task (so a rerun never pays twice) and the batch's
outcome.
.TP
.I generate --config FILE
Options of generate as a TOML or INI file, one \"name = value\" per option (names without the
leading dashes), e.g. prompt = \"a red fox\", count = 4, out = \"out/fox\". Options given on the
command line win.
[SEE ALSO]
README.md and docs/ in the zbatch sources.
")
file(WRITE "${OUTPUT}" "${text}")
