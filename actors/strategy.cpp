#include "actors/strategy.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <system_error>

#include "base/json_reader.hpp"
#include "base/suggest.hpp"

namespace zbatch::actors {

namespace {

// The parsing below raises a status_error from wherever a knob is wrong (zbatch::raise); the
// public functions at the end of the file turn it back into a returned status (capture).

[[noreturn]] void fail(const std::string& knob, const std::string& what) {
  zbatch::raise(invalid_argument_error("strategy knob '" + knob + "': " + what));
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto pos = text.find(sep, start);
    out.emplace_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) {
      return out;
    }
    start = pos + 1;
  }
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

bool read_double(const std::string& text, double& out) {
  if (text.empty()) {
    return false;
  }
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

/// `allowed` (e.g. "allowed 0..64 or off") follows the error, for knobs whose words matter.
int read_int(const std::string& knob, const std::string& text, const std::string& allowed = "") {
  double value = 0;
  if (!read_double(text, value) || value != std::floor(value) || std::abs(value) > 1e9) {
    fail(knob, "'" + text + "' is not a whole number" + (allowed.empty() ? "" : "; " + allowed));
  }
  return static_cast<int>(value);
}

double read_number(const std::string& knob, const std::string& text) {
  double value = 0;
  if (!read_double(text, value)) {
    fail(knob, "'" + text + "' is not a number");
  }
  return value;
}

/// "500ms", "2s", "1.5s", "5m".
millis read_duration(const std::string& knob, const std::string& text) {
  std::size_t unit = text.find_first_not_of("0123456789.");
  double value = 0;
  if (unit == std::string::npos || unit == 0 || !read_double(text.substr(0, unit), value)) {
    fail(knob, "'" + text + "' is not a duration; write it as 500ms, 2s or 1m");
  }
  const std::string suffix = text.substr(unit);
  double ms = 0;
  if (suffix == "ms") {
    ms = value;
  } else if (suffix == "s") {
    ms = value * 1000;
  } else if (suffix == "m") {
    ms = value * 60000;
  } else {
    fail(knob, "'" + text + "' has unit '" + suffix + "'; allowed units are ms, s and m");
  }
  if (ms > 1e12) {
    fail(knob, "'" + text + "' is too long");
  }
  return millis{static_cast<std::int64_t>(std::llround(ms))};
}

std::string format_duration(millis value) {
  const auto ms = value.count();
  if (ms != 0 && ms % 60000 == 0) {
    return std::to_string(ms / 60000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

/// The shortest text that reads back as exactly `value` (std::to_chars without a precision), so
/// parse_strategy(to_compact(spec)) == spec for every rate a user can type: 12 significant digits
/// lost "5.5444444444444444" (fuzz/actors_strategy).
std::string format_number(double value) {
  std::array<char, 32> text{};
  const auto [end, error] = std::to_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() ? std::string(text.data(), end) : std::to_string(value);
}

void check_range(const std::string& knob, double value, double low, double high,
                 const std::string& shown_range) {
  if (!(value >= low && value <= high)) {
    fail(knob, "value " + format_number(value) + " is out of range; allowed " + shown_range);
  }
}

void check_ms(const std::string& knob, millis value, millis low, millis high) {
  if (value < low || value > high) {
    fail(knob, "value " + format_duration(value) + " is out of range; allowed " +
                   format_duration(low) + ".." + format_duration(high));
  }
}

/// Splits "key=value" (value may be empty when there is no '=').
std::pair<std::string, std::string> key_value(const std::string& text) {
  const auto pos = text.find('=');
  if (pos == std::string::npos) {
    return {trim(text), {}};
  }
  return {trim(text.substr(0, pos)), trim(text.substr(pos + 1))};
}

const char* backoff_name(backoff_kind kind) {
  switch (kind) {
    case backoff_kind::constant:
      return "const";
    case backoff_kind::linear:
      return "linear";
    case backoff_kind::exponential:
      return "exp";
  }
  return "exp";
}

const char* jitter_name(jitter_kind kind) {
  switch (kind) {
    case jitter_kind::none:
      return "none";
    case jitter_kind::full:
      return "full";
    case jitter_kind::equal:
      return "equal";
    case jitter_kind::decorrelated:
      return "decorrelated";
  }
  return "none";
}

backoff_kind backoff_from(const std::string& knob, const std::string& text) {
  if (text == "const" || text == "constant") {
    return backoff_kind::constant;
  }
  if (text == "linear") {
    return backoff_kind::linear;
  }
  if (text == "exp" || text == "exponential") {
    return backoff_kind::exponential;
  }
  fail(knob, "'" + text + "' is not a backoff; allowed const, linear, exp");
}

jitter_kind jitter_from(const std::string& knob, const std::string& text) {
  if (text == "none") {
    return jitter_kind::none;
  }
  if (text == "full") {
    return jitter_kind::full;
  }
  if (text == "equal") {
    return jitter_kind::equal;
  }
  if (text == "decorrelated") {
    return jitter_kind::decorrelated;
  }
  fail(knob, "'" + text + "' is not a jitter; allowed none, full, equal, decorrelated");
}

void parse_inflight(const std::string& value, inflight_spec& out) {
  const auto parts = split(value, ':');
  if (parts[0] == "unbounded") {
    out = inflight_spec{};
    return;
  }
  if (parts[0] != "aimd") {
    if (parts.size() != 1) {
      fail("inflight", "'" + value + "'; expected N (1..10000), unbounded or aimd[:init=N]...");
    }
    out = inflight_spec{};
    out.limit = read_int("inflight", parts[0]);
    check_range("inflight", out.limit, 1, 10000, "1..10000 or unbounded");
    return;
  }
  out.adaptive = true;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto [key, text] = key_value(parts[i]);
    if (key == "init") {
      out.initial = read_int("inflight.init", text);
    } else if (key == "min") {
      out.min = read_int("inflight.min", text);
    } else if (key == "max") {
      out.max = read_int("inflight.max", text);
    } else if (key == "beta") {
      out.beta = read_number("inflight.beta", text);
    } else if (key == "lat") {
      out.latency_factor = read_number("inflight.lat", text);
    } else if (key == "strikes") {
      out.strikes = read_int("inflight.strikes", text);
    } else {
      fail("inflight", "unknown option '" + key + "'; allowed init, min, max, beta, lat, strikes");
    }
  }
}

void parse_pace(const std::string& value, pacing_spec& out) {
  const auto parts = split(value, ':');
  const std::string usage = "expected none, gap:DUR, spacing:DUR or token:RATE/s[:burst=N]";
  if (parts[0] == "none" && parts.size() == 1) {
    out = pacing_spec{};
    return;
  }
  if ((parts[0] == "gap" || parts[0] == "spacing") && parts.size() == 2) {
    out = pacing_spec{};
    out.type = parts[0] == "gap" ? pacing_spec::kind::gap : pacing_spec::kind::spacing;
    out.gap = read_duration("pace." + parts[0], parts[1]);
    return;
  }
  if (parts[0] == "token" && parts.size() >= 2 && parts.size() <= 3) {
    pacing_spec next;
    next.type = pacing_spec::kind::token;
    std::string rate = parts[1];
    if (rate.size() > 2 && rate.compare(rate.size() - 2, 2, "/s") == 0) {
      rate.resize(rate.size() - 2);
    }
    next.rate = read_number("pace.rate", rate);
    if (parts.size() == 3) {
      const auto [key, text] = key_value(parts[2]);
      if (key != "burst") {
        fail("pace", "'" + value + "'; " + usage);
      }
      next.burst = read_number("pace.burst", text);
    }
    out = next;
    return;
  }
  fail("pace", "'" + value + "'; " + usage);
}

void parse_retry(const std::string& value, retry_spec& out) {
  const auto parts = split(value, ':');
  if (parts[0] == "none" && parts.size() == 1) {
    out.max_retries = 0;
    return;
  }
  out.max_retries = read_int("retry.max", parts[0]);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto [key, text] = key_value(parts[i]);
    if (text.empty()) {
      out.backoff = backoff_from("retry.backoff", key);
    } else if (key == "base") {
      out.base = read_duration("retry.base", text);
    } else if (key == "cap") {
      out.cap = read_duration("retry.cap", text);
    } else if (key == "jitter") {
      out.jitter = jitter_from("retry.jitter", text);
    } else {
      fail("retry", "unknown option '" + key + "'; allowed const|linear|exp, base, cap, jitter");
    }
  }
}

/// `hung=off` or `hung=pQxF` (give up after F × the Q-th percentile of the latencies seen).
void parse_hung(const std::string& text, hung_spec& out) {
  if (text == "off") {
    out.enabled = false;
    return;
  }
  const auto x = text.find('x');
  if (text.size() < 4 || text[0] != 'p' || x == std::string::npos) {
    fail("poll.hung", "'" + text + "'; expected off or pQxF (e.g. p95x3)");
  }
  out.enabled = true;
  out.quantile = read_number("poll.hung.quantile", text.substr(1, x - 1)) / 100;
  out.factor = read_number("poll.hung.factor", text.substr(x + 1));
}

void parse_poll(const std::string& value, poll_spec& out) {
  const auto parts = split(value, ':');
  out.interval = read_duration("poll.interval", parts[0]);
  std::set<std::string> given;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto [key, text] = key_value(parts[i]);
    const auto option = !key.empty() && key[0] == 'x' && text.empty() ? std::string("x") : key;
    if (!given.insert(option).second) {
      fail("poll", "option '" + option + "' given twice in '" + value + "'; give it once");
    }
    if (text.empty() && !key.empty() && key[0] == 'x') {
      out.factor = read_number("poll.factor", key.substr(1));
    } else if (key == "cap") {
      out.cap = read_duration("poll.cap", text);
    } else if (key == "deadline") {
      out.deadline = read_duration("poll.deadline", text);
    } else if (key == "hung") {
      parse_hung(text, out.hung);
    } else if (key == "floor") {
      out.hung.floor = read_duration("poll.floor", text);
    } else if (key == "resubmit") {
      out.hung.resubmits = read_int("poll.resubmit", text);
    } else if (key == "fit") {
      out.fit = text == "off" ? 0 : read_int("poll.fit", text, "allowed 0..64 (0: off) or off");
    } else {
      fail("poll", "unknown option '" + parts[i] +
                       "'; allowed xFACTOR, cap=DUR, deadline=DUR, hung=off|pQxF, floor=DUR, "
                       "resubmit=N, fit=N|off");
    }
  }
}

bool read_choice(const std::string& knob, const std::string& text, const char* yes,
                 const char* no) {
  if (text == yes) {
    return true;
  }
  if (text == no) {
    return false;
  }
  fail(knob, "'" + text + "'; allowed " + yes + " or " + no);
}

void apply_clause(const std::string& key, const std::string& value, strategy_spec& spec) {
  if (key == "inflight") {
    parse_inflight(value, spec.inflight);
  } else if (key == "pace") {
    parse_pace(value, spec.pacing);
  } else if (key == "retry") {
    parse_retry(value, spec.retry);
  } else if (key == "r429") {
    spec.retry.max_429_retries = read_int("r429", value);
  } else if (key == "retry_after") {
    spec.retry.honour_retry_after = read_choice("retry_after", value, "honour", "ignore");
  } else if (key == "ambiguous") {
    spec.retry.resubmit_ambiguous = read_choice("ambiguous", value, "resubmit", "fail");
  } else if (key == "budget") {
    if (value == "none") {
      spec.budget.enabled = false;
    } else {
      const auto parts = split(value, ':');
      if (parts.size() != 2) {
        fail("budget", "'" + value + "'; expected none or MAX_TOKENS:TOKEN_RATIO (e.g. 10:0.1)");
      }
      spec.budget.enabled = true;
      spec.budget.max_tokens = read_number("budget.max_tokens", parts[0]);
      spec.budget.token_ratio = read_number("budget.token_ratio", parts[1]);
    }
  } else if (key == "poll") {
    parse_poll(value, spec.poll);
  } else if (key == "circuit") {
    if (value == "none") {
      spec.circuit.enabled = false;
    } else {
      const auto parts = split(value, ':');
      if (parts.size() != 2) {
        fail("circuit", "'" + value + "'; expected none or FAILURES:OPEN_FOR (e.g. 5:10s)");
      }
      spec.circuit.enabled = true;
      spec.circuit.threshold = read_int("circuit.threshold", parts[0]);
      spec.circuit.open_for = read_duration("circuit.open_for", parts[1]);
    }
  } else if (key == "quota") {
    spec.stop_on_quota = read_choice("quota", value, "stop", "continue");
  } else {
    fail(key, "unknown knob" +
                  base::did_you_mean(key, {"inflight", "pace", "retry", "r429", "retry_after",
                                           "ambiguous", "budget", "poll", "circuit", "quota"}) +
                  "; allowed inflight, pace, retry, r429, retry_after, ambiguous, "
                  "budget, poll, circuit, quota (or a preset name first)");
  }
}

strategy_spec base_spec() {
  strategy_spec spec;
  spec.name = "custom";
  return spec;
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names{"serial", "concurrent",   "bounded",
                                              "retry",  "token-bucket", "adaptive"};
  return names;
}

namespace {

strategy_spec preset_or_raise(std::string_view name) {
  strategy_spec spec = base_spec();
  spec.name = std::string(name);
  // Shared by the review's presets: the reviewed client polls every second.
  spec.poll = poll_spec{millis{1000}, 1.0, millis{1000}, millis{300000}, hung_spec{}};
  if (name == "serial") {
    spec.inflight.limit = 1;
    spec.pacing.type = pacing_spec::kind::gap;
    spec.pacing.gap = millis{2000};
  } else if (name == "concurrent") {
    spec.inflight.limit = 0;
  } else if (name == "bounded") {
    spec.inflight.limit = 2;
  } else if (name == "retry") {
    // The review's P2: serial loop, 2 retries sleeping 1.0 * (attempt + 1) s on any exception.
    spec.inflight.limit = 1;
    spec.retry.max_retries = 2;
    spec.retry.backoff = backoff_kind::linear;
    spec.retry.base = millis{1000};
    spec.retry.cap = millis{2000};
    spec.retry.jitter = jitter_kind::none;
    spec.retry.resubmit_ambiguous = true;
  } else if (name == "token-bucket") {
    spec.inflight.limit = 0;
    spec.pacing.type = pacing_spec::kind::token;
    spec.pacing.rate = 0.5;
    spec.pacing.burst = 2;
  } else if (name == "adaptive") {
    spec.inflight.adaptive = true;
    spec.inflight.initial = 1;
    spec.inflight.min = 1;
    spec.inflight.max = 256;
    spec.inflight.beta = 0.7;
    spec.inflight.latency_factor = 3.0;
    spec.inflight.strikes = 2;
    spec.retry.max_retries = 4;
    spec.retry.backoff = backoff_kind::exponential;
    spec.retry.base = millis{500};
    spec.retry.cap = millis{16000};
    spec.retry.jitter = jitter_kind::full;
    spec.retry.max_429_retries = 20;
    spec.retry.honour_retry_after = true;
    spec.retry.resubmit_ambiguous = false;
    spec.budget = budget_spec{true, 10, 0.1};
    // Grows slowly: Z-Image-Turbo takes seconds, and every poll may count against a limit.
    spec.poll = poll_spec{millis{1000}, 1.1, millis{5000}, millis{300000}, hung_spec{}};
    // A hung task is given up after 3 × the p95 latency seen (at least 30 s), then resubmitted
    // once, knowingly (issue 13: never-ending tasks held the batch for the 5-minute deadline).
    spec.poll.hung = hung_spec{true, 0.95, 3.0, millis{30000}, 1};
    // Once 5 tasks finished, 8 polls between the p10 and p90 of their latencies (at least
    // 250 ms apart), then growth from there (issue 13, held out: makespans 1-3 % shorter on
    // most scenarios with fewer polls per image; 16 polls gained a little more for more polls).
    spec.poll.fit = 8;
    spec.circuit = circuit_spec{true, 5, millis{10000}};
    spec.stop_on_quota = true;
  } else {
    std::string names;
    for (const auto& known : preset_names()) {
      names += (names.empty() ? "" : ", ") + known;
    }
    zbatch::raise(not_found_error(
        "unknown strategy preset '" + std::string(name) + "'" +
        base::did_you_mean(name, preset_names()) + "; allowed " + names +
        " or a spec such as inflight=2,retry=2:linear:base=1s (zbatch strategy show NAME "
        "explains one)"));
  }
  return spec;
}

void validate_or_raise(const strategy_spec& spec) {
  const auto& in = spec.inflight;
  if (in.adaptive) {
    check_range("inflight.init", in.initial, 1, 10000, "1..10000");
    check_range("inflight.min", in.min, 1, in.initial, "1..inflight.init");
    check_range("inflight.max", in.max, in.initial, 10000, "inflight.init..10000");
    check_range("inflight.beta", in.beta, 0.1, 0.95, "0.1..0.95");
    if (in.latency_factor != 0) {
      check_range("inflight.lat", in.latency_factor, 1.1, 100, "0 (off) or 1.1..100");
    }
    check_range("inflight.strikes", in.strikes, 0, 100, "0 (classic AIMD) or 1..100");
  } else {
    check_range("inflight", in.limit, 0, 10000, "1..10000 or unbounded");
  }
  const auto& pace = spec.pacing;
  if (pace.type == pacing_spec::kind::gap) {
    check_ms("pace.gap", pace.gap, millis{0}, millis{3600000});
  } else if (pace.type == pacing_spec::kind::spacing) {
    check_ms("pace.spacing", pace.gap, millis{0}, millis{3600000});
  } else if (pace.type == pacing_spec::kind::token) {
    check_range("pace.rate", pace.rate, 0.001, 1000, "0.001..1000 per second");
    check_range("pace.burst", pace.burst, 1, 10000, "1..10000");
  }
  const auto& retry = spec.retry;
  check_range("retry.max", retry.max_retries, 0, 100, "0..100");
  check_ms("retry.base", retry.base, millis{0}, millis{600000});
  check_ms("retry.cap", retry.cap, retry.base, millis{3600000});
  check_range("r429", retry.max_429_retries, 0, 1000, "0..1000");
  if (spec.budget.enabled) {
    check_range("budget.max_tokens", spec.budget.max_tokens, 1, 1000, "1..1000");
    check_range("budget.token_ratio", spec.budget.token_ratio, 0, 1, "0..1");
  }
  const auto& poll = spec.poll;
  check_ms("poll.interval", poll.interval, millis{10}, millis{600000});
  check_range("poll.factor", poll.factor, 1, 10, "1..10");
  check_ms("poll.cap", poll.cap, poll.interval, millis{600000});
  check_ms("poll.deadline", poll.deadline, poll.interval, millis{86400000});
  check_range("poll.fit", poll.fit, 0, 64, "0..64 (0: off)");
  if (poll.hung.enabled) {
    check_range("poll.hung.quantile", poll.hung.quantile, 0.5, 0.999, "p50..p99.9 (0.5..0.999)");
    check_range("poll.hung.factor", poll.hung.factor, 1, 20, "1..20");
    check_ms("poll.floor", poll.hung.floor, millis{1000}, millis{3600000});
    check_range("poll.resubmit", poll.hung.resubmits, 0, 3, "0..3");
  }
  if (spec.circuit.enabled) {
    check_range("circuit.threshold", spec.circuit.threshold, 1, 1000, "1..1000");
    check_ms("circuit.open_for", spec.circuit.open_for, millis{100}, millis{3600000});
  }
}

strategy_spec parse_strategy_or_raise(std::string_view text) {
  const auto clauses = split(text, ',');
  strategy_spec spec = base_spec();
  std::size_t first = 0;
  const std::string head = trim(clauses[0]);
  if (head.empty() && clauses.size() == 1) {
    zbatch::raise(
        invalid_argument_error("empty strategy; give a preset name or a spec such as inflight=2"));
  }
  if (head.find('=') == std::string::npos) {
    spec = preset_or_raise(head);
    first = 1;
  }
  std::set<std::string> given;
  for (std::size_t i = first; i < clauses.size(); ++i) {
    const std::string clause = trim(clauses[i]);
    const auto [key, value] = key_value(clause);
    if (clause.find('=') == std::string::npos || value.empty()) {
      fail(key.empty() ? "(empty)" : key,
           "expected KNOB=VALUE (a preset name may only come first)");
    }
    if (!given.insert(key).second) {
      fail(key, "given twice; give each knob once (the last one would win unseen)");
    }
    apply_clause(key, value, spec);
    spec.name = "custom";
  }
  validate_or_raise(spec);
  return spec;
}

}  // namespace

result<strategy_spec> preset(std::string_view name) {
  return capture([&] { return preset_or_raise(name); });
}

status validate(const strategy_spec& spec) {
  return capture([&] { validate_or_raise(spec); });
}

result<strategy_spec> parse_strategy(std::string_view text) {
  return capture([&] { return parse_strategy_or_raise(text); });
}

std::string to_compact(const strategy_spec& spec) {
  std::string out = "inflight=";
  const auto& in = spec.inflight;
  if (in.adaptive) {
    out += "aimd:init=" + std::to_string(in.initial) + ":min=" + std::to_string(in.min) +
           ":max=" + std::to_string(in.max) + ":beta=" + format_number(in.beta) +
           ":lat=" + format_number(in.latency_factor);
    if (in.strikes > 0) {
      out += ":strikes=" + std::to_string(in.strikes);
    }
  } else if (in.limit == 0) {
    out += "unbounded";
  } else {
    out += std::to_string(in.limit);
  }
  out += ",pace=";
  switch (spec.pacing.type) {
    case pacing_spec::kind::none:
      out += "none";
      break;
    case pacing_spec::kind::gap:
      out += "gap:" + format_duration(spec.pacing.gap);
      break;
    case pacing_spec::kind::spacing:
      out += "spacing:" + format_duration(spec.pacing.gap);
      break;
    case pacing_spec::kind::token:
      out += "token:" + format_number(spec.pacing.rate) +
             "/s:burst=" + format_number(spec.pacing.burst);
      break;
  }
  const auto& retry = spec.retry;
  out += ",retry=" + std::to_string(retry.max_retries) + ":" + backoff_name(retry.backoff) +
         ":base=" + format_duration(retry.base) + ":cap=" + format_duration(retry.cap) +
         ":jitter=" + jitter_name(retry.jitter);
  out += ",r429=" + std::to_string(retry.max_429_retries);
  out += std::string(",retry_after=") + (retry.honour_retry_after ? "honour" : "ignore");
  out += std::string(",ambiguous=") + (retry.resubmit_ambiguous ? "resubmit" : "fail");
  out += ",budget=";
  out += spec.budget.enabled
             ? format_number(spec.budget.max_tokens) + ":" + format_number(spec.budget.token_ratio)
             : std::string("none");
  const auto& poll = spec.poll;
  out += ",poll=" + format_duration(poll.interval) + ":x" + format_number(poll.factor) +
         ":cap=" + format_duration(poll.cap) + ":deadline=" + format_duration(poll.deadline);
  if (poll.hung.enabled) {  // Written only when on: the other presets' forms stay as they were.
    out += ":hung=p" + format_number(std::round(poll.hung.quantile * 1000) / 10) + "x" +
           format_number(poll.hung.factor) + ":floor=" + format_duration(poll.hung.floor) +
           ":resubmit=" + std::to_string(poll.hung.resubmits);
  }
  if (poll.fit > 0) {
    out += ":fit=" + std::to_string(poll.fit);
  }
  out += ",circuit=";
  out += spec.circuit.enabled
             ? std::to_string(spec.circuit.threshold) + ":" + format_duration(spec.circuit.open_for)
             : std::string("none");
  out += std::string(",quota=") + (spec.stop_on_quota ? "stop" : "continue");
  return out;
}

// ---- JSON ---------------------------------------------------------------------------------------

namespace {

using json = nlohmann::json;
using reader = base::json_reader;

/// A whole number, also written as a float (3.0), as in the compact form; validate() checks
/// the range with the knob's name.
int whole_number(reader& object, const char* key, int fallback) {
  const auto value = object.field(key);
  if (!value.present()) {
    return fallback;
  }
  const double number = value.number();
  if (number != std::floor(number) || std::abs(number) > 1e9) {
    value.fail_expected("a whole number");
  }
  return static_cast<int>(number);
}

millis milliseconds(reader& object, const char* key, millis fallback) {
  const auto value = object.field(key);
  if (!value.present()) {
    return fallback;
  }
  return millis{static_cast<std::int64_t>(std::llround(value.number(0, 1e12)))};
}

/// Runs a compact-form parse, re-raising its error at `at` so it names the JSON path.
template <class F>
void with_path(const reader& at, F&& body) {
  try {
    body();
  } catch (const status_error& error) {
    at.fail(error.what());
  }
}

void read_inflight(reader in, inflight_spec& out) {
  if (in.node().is_number() || in.node().is_string()) {
    const auto text = in.node().is_string() ? in.node().get<std::string>() : in.node().dump();
    with_path(in, [&] { parse_inflight(text, out); });
    return;
  }
  in.expect_fields(
      {"adaptive", "limit", "initial", "min", "max", "beta", "latency_factor", "strikes"});
  in.read("adaptive", out.adaptive);
  out.limit = whole_number(in, "limit", out.limit);
  out.initial = whole_number(in, "initial", out.initial);
  out.min = whole_number(in, "min", out.min);
  out.max = whole_number(in, "max", out.max);
  in.read("beta", out.beta);
  in.read("latency_factor", out.latency_factor);
  out.strikes = whole_number(in, "strikes", out.strikes);
}

void read_pace(reader pace, pacing_spec& out) {
  if (pace.node().is_string()) {
    with_path(pace, [&] { parse_pace(pace.node().get<std::string>(), out); });
    return;
  }
  pace.expect_fields({"kind", "gap_ms", "rate", "burst"});
  out.type = pacing_spec::kind::none;
  if (const auto kind = pace.field("kind"); kind.present()) {
    out.type = static_cast<pacing_spec::kind>(kind.one_of({"none", "gap", "spacing", "token"}));
  }
  out.gap = milliseconds(pace, "gap_ms", out.gap);
  pace.read("rate", out.rate);
  pace.read("burst", out.burst);
}

void read_retry(reader retry, retry_spec& out) {
  retry.expect_fields({"max", "backoff", "base_ms", "cap_ms", "jitter", "max_429", "retry_after",
                       "resubmit_ambiguous"});
  out.max_retries = whole_number(retry, "max", out.max_retries);
  if (const auto backoff = retry.field("backoff"); backoff.present()) {
    const auto name = backoff.string_or_empty();
    with_path(retry, [&] { out.backoff = backoff_from("retry.backoff", name); });
  }
  out.base = milliseconds(retry, "base_ms", out.base);
  out.cap = milliseconds(retry, "cap_ms", out.cap);
  if (const auto jitter = retry.field("jitter"); jitter.present()) {
    const auto name = jitter.string_or_empty();
    with_path(retry, [&] { out.jitter = jitter_from("retry.jitter", name); });
  }
  out.max_429_retries = whole_number(retry, "max_429", out.max_429_retries);
  retry.read("retry_after", out.honour_retry_after);
  retry.read("resubmit_ambiguous", out.resubmit_ambiguous);
}

/// `budget`: null turns the retry budget off, an object turns it on.
void read_budget(reader budget, budget_spec& out) {
  out.enabled = budget.present();
  if (out.enabled) {
    budget.expect_fields({"max_tokens", "token_ratio"});
    budget.read("max_tokens", out.max_tokens);
    budget.read("token_ratio", out.token_ratio);
  }
}

void read_poll(reader poll, poll_spec& out) {
  poll.expect_fields({"interval_ms", "factor", "cap_ms", "deadline_ms", "hung", "fit"});
  out.interval = milliseconds(poll, "interval_ms", out.interval);
  poll.read("factor", out.factor);
  out.cap = milliseconds(poll, "cap_ms", out.cap);
  out.deadline = milliseconds(poll, "deadline_ms", out.deadline);
  out.fit = whole_number(poll, "fit", out.fit);
  // `hung`: null turns the hung-task give-up off, an object turns it on.
  if (auto hung = poll.field("hung"); hung.exists()) {
    out.hung.enabled = hung.present();
    if (out.hung.enabled) {
      hung.expect_fields({"quantile", "factor", "floor_ms", "resubmits"});
      hung.read("quantile", out.hung.quantile);
      hung.read("factor", out.hung.factor);
      out.hung.floor = milliseconds(hung, "floor_ms", out.hung.floor);
      out.hung.resubmits = whole_number(hung, "resubmits", out.hung.resubmits);
    }
  }
}

/// `circuit`: null turns the circuit breaker off, an object turns it on.
void read_circuit(reader circuit, circuit_spec& out) {
  out.enabled = circuit.present();
  if (out.enabled) {
    circuit.expect_fields({"threshold", "open_ms"});
    out.threshold = whole_number(circuit, "threshold", out.threshold);
    out.open_for = milliseconds(circuit, "open_ms", out.open_for);
  }
}

/// Reads the sections given in `r` into `spec`; returns whether any was given.
bool read_sections(reader& r, strategy_spec& spec) {
  bool changed = false;
  if (const auto in = r.field("inflight"); in.present()) {
    changed = true;
    read_inflight(in, spec.inflight);
  }
  if (const auto pace = r.field("pace"); pace.present()) {
    changed = true;
    read_pace(pace, spec.pacing);
  }
  if (const auto retry = r.field("retry"); retry.present()) {
    changed = true;
    read_retry(retry, spec.retry);
  }
  if (const auto budget = r.field("budget"); budget.exists()) {
    changed = true;
    read_budget(budget, spec.budget);
  }
  if (const auto poll = r.field("poll"); poll.present()) {
    changed = true;
    read_poll(poll, spec.poll);
  }
  if (const auto circuit = r.field("circuit"); circuit.exists()) {
    changed = true;
    read_circuit(circuit, spec.circuit);
  }
  if (const auto quota = r.field("stop_on_quota"); quota.present()) {
    changed = true;
    spec.stop_on_quota = quota.boolean();
  }
  return changed;
}

strategy_spec strategy_from_json_or_raise(const json& document, const std::string& where) {
  reader r(document, "", where);
  strategy_spec spec = base_spec();
  if (document.is_string()) {
    with_path(r, [&] { spec = parse_strategy_or_raise(document.get<std::string>()); });
    return spec;
  }
  r.expect_fields({"name", "preset", "inflight", "pace", "retry", "budget", "poll", "circuit",
                   "stop_on_quota"});
  if (const auto name = r.field("preset"); name.present()) {
    const auto text = name.string_or_empty();
    with_path(name, [&] { spec = preset_or_raise(text); });
  }
  if (read_sections(r, spec)) {
    spec.name = "custom";
  }
  r.read("name", spec.name);
  with_path(r, [&] { validate_or_raise(spec); });
  return spec;
}

}  // namespace

result<strategy_spec> strategy_from_json(const json& document, const std::string& where) {
  return capture([&] { return strategy_from_json_or_raise(document, where); });
}

json to_json(const strategy_spec& spec) {
  json out = json::object();
  out["name"] = spec.name;
  const auto& in = spec.inflight;
  if (in.adaptive) {
    out["inflight"] = {{"adaptive", true}, {"initial", in.initial},
                       {"min", in.min},    {"max", in.max},
                       {"beta", in.beta},  {"latency_factor", in.latency_factor}};
    if (in.strikes > 0) {
      out["inflight"]["strikes"] = in.strikes;
    }
  } else if (in.limit == 0) {
    out["inflight"] = "unbounded";
  } else {
    out["inflight"] = in.limit;
  }
  static const char* pace_names[] = {"none", "gap", "spacing", "token"};
  // Only the fields the kind reads, as in to_compact: `none` with a rate and burst read as if
  // they applied.
  out["pace"] = {{"kind", pace_names[static_cast<int>(spec.pacing.type)]}};
  switch (spec.pacing.type) {
    case pacing_spec::kind::none:
      break;
    case pacing_spec::kind::gap:
    case pacing_spec::kind::spacing:
      out["pace"]["gap_ms"] = spec.pacing.gap.count();
      break;
    case pacing_spec::kind::token:
      out["pace"]["rate"] = spec.pacing.rate;
      out["pace"]["burst"] = spec.pacing.burst;
      break;
  }
  const auto& retry = spec.retry;
  out["retry"] = {{"max", retry.max_retries},
                  {"backoff", backoff_name(retry.backoff)},
                  {"base_ms", retry.base.count()},
                  {"cap_ms", retry.cap.count()},
                  {"jitter", jitter_name(retry.jitter)},
                  {"max_429", retry.max_429_retries},
                  {"retry_after", retry.honour_retry_after},
                  {"resubmit_ambiguous", retry.resubmit_ambiguous}};
  out["budget"] = spec.budget.enabled ? json{{"max_tokens", spec.budget.max_tokens},
                                             {"token_ratio", spec.budget.token_ratio}}
                                      : json(nullptr);
  out["poll"] = {{"interval_ms", spec.poll.interval.count()},
                 {"factor", spec.poll.factor},
                 {"cap_ms", spec.poll.cap.count()},
                 {"deadline_ms", spec.poll.deadline.count()}};
  if (spec.poll.hung.enabled) {  // Written only when on, as in to_compact.
    out["poll"]["hung"] = {{"quantile", spec.poll.hung.quantile},
                           {"factor", spec.poll.hung.factor},
                           {"floor_ms", spec.poll.hung.floor.count()},
                           {"resubmits", spec.poll.hung.resubmits}};
  }
  if (spec.poll.fit > 0) {  // Written only when on, as in to_compact.
    out["poll"]["fit"] = spec.poll.fit;
  }
  out["circuit"] = spec.circuit.enabled ? json{{"threshold", spec.circuit.threshold},
                                               {"open_ms", spec.circuit.open_for.count()}}
                                        : json(nullptr);
  out["stop_on_quota"] = spec.stop_on_quota;
  return out;
}

}  // namespace zbatch::actors
