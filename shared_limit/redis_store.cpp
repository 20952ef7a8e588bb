#include "shared_limit/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>

namespace zbatch::shared_limit {

namespace {

// The scripts; their order is the index `eval` takes. Each starts by reading the server's clock
// (milliseconds): TIME is allowed before writes since Redis 5 (effects replication).
constexpr const char* clock_lua =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

enum script {
  acquire_s,
  renew_s,
  adopt_s,
  release_s,
  held_s,
  pace_s,
  limit_s,
  quota_s,
  procs_s,
  circuit_s,
  ratelimit_s
};

// KEYS: leases, maxheld, quota, limit hash, waiters (id -> ticket), waiter expiries (id ->
// expiry ms), the last ticket (a counter: tickets never tie, as times in one ms would).
// ARGV: id, fixed limit, lease ms, adaptive initial ('' for a fixed limit: else the limit is
// the adaptive one's floor as it stands now), waiter id ('' = not queued), waiter ttl ms.
// Returns {granted, held, now, retry ms, quota reset or -1, limit checked}.
constexpr const char* acquire_lua =
    "local q = redis.call('GET', KEYS[3])\n"
    "if q and tonumber(q) > now then return {0, 0, now, 0, tonumber(q), 0} end\n"
    "local limit = tonumber(ARGV[2])\n"
    "if ARGV[4] ~= '' then\n"
    "  local l = tonumber(redis.call('HGET', KEYS[4], 'limit')) or tonumber(ARGV[4])\n"
    "  limit = math.max(1, math.floor(l + 1e-9))\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now)) do\n"
    "  redis.call('ZREM', KEYS[5], w)\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)\n"
    "local me = ARGV[5]\n"
    "local ahead = redis.call('ZCARD', KEYS[5])\n"
    "local ticket = me ~= '' and redis.call('ZSCORE', KEYS[5], me)\n"
    "if ticket then ahead = redis.call('ZCOUNT', KEYS[5], '-inf', '(' .. ticket) end\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local lease = tonumber(ARGV[3])\n"
    "if n >= limit or limit - n <= ahead then\n"
    "  local wait = lease\n"
    "  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "  if n >= limit and first[2] then wait = tonumber(first[2]) - now end\n"
    "  if me ~= '' then\n"
    "    if not ticket then redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[7]), me) end\n"
    "    redis.call('ZADD', KEYS[6], now + tonumber(ARGV[6]), me)\n"
    "  end\n"
    "  return {0, n, now, wait, -1, limit}\n"
    "end\n"
    "if me ~= '' then\n"
    "  redis.call('ZREM', KEYS[5], me)\n"
    "  redis.call('ZREM', KEYS[6], me)\n"
    "end\n"
    "n = n + redis.call('ZADD', KEYS[1], now + lease, ARGV[1])\n"
    "local m = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if n > m then redis.call('SET', KEYS[2], n) end\n"
    "return {1, n, now, 0, -1, limit}\n";

// KEYS: leases. ARGV: lease ms, ids... Returns the number renewed.
constexpr const char* renew_lua =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local expiry = now + tonumber(ARGV[1])\n"
    "local n = 0\n"
    "for i = 2, #ARGV do\n"
    "  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then\n"
    "    redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

// KEYS: leases, maxheld. ARGV: lease ms, ids... Returns the unexpired count.
constexpr const char* adopt_lua =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local expiry = now + tonumber(ARGV[1])\n"
    "for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local m = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if n > m then redis.call('SET', KEYS[2], n) end\n"
    "return n\n";

// KEYS: leases. ARGV: id.
constexpr const char* release_lua = "return redis.call('ZREM', KEYS[1], ARGV[1])\n";

// KEYS: leases, maxheld. Returns {unexpired, max held}.
constexpr const char* held_lua =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}\n";

// GCRA. KEYS: tat. ARGV: emission interval ms, tolerance ms. Returns {allowed, retry ms}.
constexpr const char* pace_lua =
    "local interval = tonumber(ARGV[1])\n"
    "local tolerance = tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "if tat < now then tat = now end\n"
    "if now < tat - tolerance then return {0, tat - tolerance - now} end\n"
    "redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now + 1000)\n"
    "return {1, 0}\n";

// The adaptive limit (memory_store.cpp holds the same rules). KEYS: limit hash. ARGV: op (get,
// dec, inc), initial, min, max, beta, submitted ms, strikes (0 = multiply by beta), grow (inc:
// '1' or '0'). Returns {limit as text, changed}.
constexpr const char* limit_lua =
    "local h = redis.call('HMGET', KEYS[1], 'limit', 'last', 'dec', 'strikes')\n"
    "local limit = tonumber(h[1]) or tonumber(ARGV[2])\n"
    "local last = tonumber(h[2]) or 0\n"
    "local dec = h[3] == '1'\n"
    "local strikes = tonumber(h[4]) or 0\n"
    "local sub = tonumber(ARGV[6])\n"
    "local need = tonumber(ARGV[7])\n"
    "local changed = 0\n"
    "if ARGV[1] == 'dec' and ((not dec) or sub >= last) then\n"
    "  if need > 0 then\n"
    "    strikes = strikes + 1\n"
    "    if strikes >= need then\n"
    "      strikes = 0\n"
    "      limit = math.max(tonumber(ARGV[3]), math.min(limit, math.floor(limit + 1e-9) - 1))\n"
    "      changed = 1\n"
    "    end\n"
    "  else\n"
    "    limit = math.max(tonumber(ARGV[3]), limit * tonumber(ARGV[5]))\n"
    "    changed = 1\n"
    "  end\n"
    "  if changed == 1 then\n"
    "    last = now\n"
    "    dec = true\n"
    "  end\n"
    "elseif ARGV[1] == 'inc' and ((not dec) or sub >= last) then\n"
    "  strikes = 0\n"
    "  if ARGV[8] == '1' then\n"
    "    local step = 1\n"
    "    if dec then step = 1 / math.max(1, math.floor(limit + 1e-9)) end\n"
    "    limit = math.min(tonumber(ARGV[4]), limit + step)\n"
    "    changed = 1\n"
    "  end\n"
    "end\n"
    "local text = string.format('%.17g', limit)\n"
    "redis.call('HSET', KEYS[1], 'limit', text, 'last', last, 'dec', dec and '1' or '0',\n"
    "           'strikes', strikes)\n"
    "return {text, changed}\n";

// KEYS: quota. ARGV: reset ms (stop until then) or -1 (read). Returns the reset or -1.
constexpr const char* quota_lua =
    "local reset = tonumber(ARGV[1])\n"
    "if reset > now then redis.call('SET', KEYS[1], reset, 'PX', reset - now) end\n"
    "local q = redis.call('GET', KEYS[1])\n"
    "if q and tonumber(q) > now then return tonumber(q) end\n"
    "return -1\n";

// KEYS: procs. ARGV: process id, ttl ms. Returns the processes alive.
constexpr const char* procs_lua =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "return redis.call('ZCARD', KEYS[1])\n";

// KEYS: circuit, probe. ARGV: 'open', until ms | 'close' | 'get', holder, probe ttl ms.
// Returns {state: 0 closed, 1 open, 2 half-open; until ms; 1 when the caller holds the probe}.
constexpr const char* circuit_lua =
    "if ARGV[1] == 'open' then\n"
    "  local cur = redis.call('GET', KEYS[1])\n"
    "  if (not cur) or tonumber(ARGV[2]) > tonumber(cur) then\n"
    "    redis.call('SET', KEYS[1], ARGV[2])\n"
    "  end\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {1, 0, 0}\n"
    "elseif ARGV[1] == 'close' then\n"
    "  redis.call('DEL', KEYS[1], KEYS[2])\n"
    "  return {0, 0, 0}\n"
    "end\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return {0, 0, 0} end\n"
    "local u = tonumber(cur)\n"
    "if u > now then return {1, u, 0} end\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3])\n"
    "return {2, u, redis.call('GET', KEYS[2]) == ARGV[2] and 1 or 0}\n";

// KEYS: ratelimit hash. ARGV: 'rec', account or -1, until ms, then (model id, remaining)
// pairs | 'get'. Keeps the lowest of each figure (fields `account` and `model:<id>`), expiring
// at the latest `until`. Returns the hash as HGETALL does.
constexpr const char* ratelimit_lua =
    "if ARGV[1] == 'rec' then\n"
    "  local function keep(field, seen)\n"
    "    local kept = redis.call('HGET', KEYS[1], field)\n"
    "    if seen >= 0 and ((not kept) or seen < tonumber(kept)) then\n"
    "      redis.call('HSET', KEYS[1], field, seen)\n"
    "    end\n"
    "  end\n"
    "  keep('account', tonumber(ARGV[2]))\n"
    "  for i = 4, #ARGV - 1, 2 do\n"
    "    keep('model:' .. ARGV[i], tonumber(ARGV[i + 1]))\n"
    "  end\n"
    "  local left = tonumber(ARGV[3]) - now\n"
    "  if left > 0 and redis.call('PTTL', KEYS[1]) < left then\n"
    "    redis.call('PEXPIRE', KEYS[1], left)\n"
    "  end\n"
    "  if redis.call('PTTL', KEYS[1]) == -1 then redis.call('DEL', KEYS[1]) end\n"
    "end\n"
    "return redis.call('HGETALL', KEYS[1])\n";

const char* const bodies[] = {acquire_lua, renew_lua,   adopt_lua,    release_lua,
                              held_lua,    pace_lua,    limit_lua,    quota_lua,
                              procs_lua,   circuit_lua, ratelimit_lua};
constexpr int script_count = sizeof(bodies) / sizeof(bodies[0]);

timeval to_timeval(millis ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::int64_t integer_of(const redisReply* r) {
  if (r == nullptr) {
    return 0;
  }
  if (r->type == REDIS_REPLY_INTEGER) {
    return r->integer;
  }
  if (r->type == REDIS_REPLY_STRING) {
    return std::strtoll(r->str, nullptr, 10);
  }
  return 0;
}

const redisReply* element(const redisReply* r, std::size_t i) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : nullptr;
}

std::string number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", x);
  return text;
}

bool parse_int(std::string_view text, int low, int high, int& out) {
  if (text.empty() || text.size() > 9) {
    return false;
  }
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  if (value < low || value > high) {
    return false;
  }
  out = value;
  return true;
}

}  // namespace

struct redis_store::reply {
  explicit reply(redisReply* r) : raw(r) {}
  ~reply() { freeReplyObject(raw); }
  reply(const reply&) = delete;
  reply& operator=(const reply&) = delete;
  redisReply* raw;
};

std::string redis_config::describe() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

namespace {

/// The host part of a redis:// URL as the resolver takes it: a name or IPv4 address, or an IPv6
/// address in brackets (RFC 3986 §3.2.2), returned without them. A host with a space, a bracket
/// out of place or a URL delimiter is refused here rather than failing later as "name not known"
/// (which the shared limit would treat as Redis being down, and run on a local share).
result<std::string> redis_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!host.empty() && host.find_first_not_of("0123456789abcdefABCDEF:.") == host.npos) {
      return std::string(host);
    }
  } else if (!host.empty() && host.find_first_of(" []?#\t") == host.npos) {
    return std::string(host);
  }
  return invalid_argument_error("--shared-limit: host \"" + std::string(host) +
                                "\" is not a host name, an IPv4 address or an [IPv6] address");
}

}  // namespace

result<redis_config> parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  const std::string usage = "--shared-limit: expected redis://HOST:PORT[/DB]";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return invalid_argument_error(usage);
  }
  std::string_view rest(url);
  rest.remove_prefix(scheme.size());
  if (rest.find('@') != std::string_view::npos) {
    // Not echoed: the part before '@' may be a password.
    return invalid_argument_error(
        "--shared-limit: a user or password in the URL is refused (it would show in the process "
        "list); set ZBATCH_REDIS_PASSWORD or use --shared-limit-password-file");
  }
  redis_config config;
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return invalid_argument_error(usage + " (got " + url + ")");
  }
  auto host = redis_host(authority.substr(0, colon));
  if (!host.ok()) {
    return host.status();
  }
  config.host = *std::move(host);
  if (!parse_int(authority.substr(colon + 1), 1, 65535, config.port)) {
    return invalid_argument_error("--shared-limit: port \"" +
                                  std::string(authority.substr(colon + 1)) +
                                  "\" must be a whole number from 1 to 65535");
  }
  if (slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 15, config.db)) {
      return invalid_argument_error("--shared-limit: database \"" + std::string(db) +
                                    "\" must be a whole number from 0 to 15");
    }
  }
  return config;
}

result<std::string> redis_password(const std::string& file) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      return not_found_error("--shared-limit-password-file: cannot read " + file);
    }
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
      line.pop_back();
    }
    if (line.empty()) {
      return invalid_argument_error("--shared-limit-password-file: " + file +
                                    ": the first line is empty");
    }
    return line;
  }
  const char* env = std::getenv("ZBATCH_REDIS_PASSWORD");
  return std::string(env != nullptr ? env : "");
}

redis_store::redis_store(redis_config config, std::string ns)
    : config_(std::move(config)), ns_(std::move(ns)) {}

redis_store::~redis_store() { close(); }

void redis_store::close() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

result<std::unique_ptr<redis_store>> redis_store::connect(redis_config config, std::string ns) {
  std::unique_ptr<redis_store> store(new redis_store(std::move(config), std::move(ns)));
  if (auto opened = store->open(); !opened.ok()) {
    return opened;
  }
  return store;
}

std::unique_ptr<redis_store> redis_store::connect_later(redis_config config, std::string ns) {
  return std::unique_ptr<redis_store>(new redis_store(std::move(config), std::move(ns)));
}

status redis_store::open() {
  close();
  const std::string where = "Redis at " + config_.describe();
  context_ = redisConnectWithTimeout(config_.host.c_str(), config_.port,
                                     to_timeval(config_.connect_timeout));
  if (context_ == nullptr || context_->err != 0) {
    std::string why = context_ != nullptr ? context_->errstr : "out of memory";
    close();
    return unavailable_error(where + ": " + why);
  }
  redisSetTimeout(context_, to_timeval(config_.command_timeout));
  redisEnableKeepAlive(context_);
  auto simple = [&](const std::vector<std::string>& argv, const char* what) -> status {
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data()));
    if (raw == nullptr) {
      std::string why = context_->errstr;
      close();
      return unavailable_error(where + ": " + why);
    }
    reply r(raw);
    if (raw->type == REDIS_REPLY_ERROR) {
      // The server's own text (e.g. "WRONGPASS invalid username-password pair"): no password.
      std::string why(raw->str, raw->len);
      close();
      return failed_precondition_error(where + ": " + what + ": " + why);
    }
    if (argv[0] == "SCRIPT") {
      shas_.emplace_back(raw->str, raw->len);
    }
    return ok_status();
  };
  if (!config_.password.empty()) {
    if (auto s = simple({"AUTH", config_.password}, "AUTH"); !s.ok()) {
      return s;
    }
  }
  if (config_.db != 0) {
    if (auto s = simple({"SELECT", std::to_string(config_.db)}, "SELECT"); !s.ok()) {
      return s;
    }
  }
  shas_.clear();
  for (const char* body : bodies) {
    if (auto s = simple({"SCRIPT", "LOAD", std::string(clock_lua) + body}, "SCRIPT LOAD");
        !s.ok()) {
      return s;
    }
  }
  return ok_status();
}

result<std::shared_ptr<redis_store::reply>> redis_store::command(
    const std::vector<std::string>& argv) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (context_ == nullptr) {
      if (auto opened = open(); !opened.ok()) {
        return opened;
      }
    }
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data()));
    if (raw == nullptr) {
      // A broken connection (a restarted or killed server): reconnect once.
      const std::string why = context_->errstr;
      close();
      if (attempt == 1) {
        return unavailable_error("Redis at " + config_.describe() + ": " + why);
      }
      continue;
    }
    return std::make_shared<reply>(raw);
  }
  return unavailable_error("Redis at " + config_.describe() + ": no answer");
}

result<std::shared_ptr<redis_store::reply>> redis_store::eval(
    int index, const std::vector<std::string>& keys, const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (context_ == nullptr) {
      if (auto opened = open(); !opened.ok()) {
        return opened;
      }
    }
    std::vector<std::string> argv{"EVALSHA", shas_[static_cast<std::size_t>(index)],
                                  std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto answer = command(argv);
    if (!answer.ok()) {
      return answer;
    }
    const auto* raw = (*answer)->raw;
    if (raw->type == REDIS_REPLY_ERROR) {
      const std::string_view text(raw->str, raw->len);
      if (text.compare(0, 8, "NOSCRIPT") == 0 && attempt == 0) {
        // A restarted server or SCRIPT FLUSH: load the scripts again and retry.
        if (auto opened = open(); !opened.ok()) {
          return opened;
        }
        continue;
      }
      return internal_error("Redis at " + config_.describe() + ": " + std::string(text));
    }
    return answer;
  }
  return internal_error("Redis at " + config_.describe() + ": scripts keep disappearing");
}

result<lease_answer> redis_store::acquire(const std::string& lease_id, const lease_limit& limit,
                                          millis lease, const waiter& queue) {
  auto r = eval(acquire_s,
                {ns_ + ":leases", ns_ + ":maxheld", ns_ + ":quota", ns_ + ":limit",
                 ns_ + ":waiters", ns_ + ":waiting", ns_ + ":ticket"},
                {lease_id, std::to_string(limit.fixed), std::to_string(lease.count()),
                 limit.adaptive ? number(limit.adaptive->initial) : std::string(), queue.id,
                 std::to_string(queue.ttl.count())});
  if (!r.ok()) {
    return r.error();
  }
  const auto* raw = (*r)->raw;
  lease_answer answer;
  answer.granted = integer_of(element(raw, 0)) == 1;
  answer.held = static_cast<int>(integer_of(element(raw, 1)));
  answer.now_ms = integer_of(element(raw, 2));
  answer.retry_in = millis{integer_of(element(raw, 3))};
  if (const auto quota = integer_of(element(raw, 4)); quota >= 0) {
    answer.quota_reset_ms = quota;
  }
  answer.limit = static_cast<int>(integer_of(element(raw, 5)));
  return answer;
}

result<int> redis_store::renew(const std::vector<std::string>& lease_ids, millis lease) {
  std::vector<std::string> args{std::to_string(lease.count())};
  args.insert(args.end(), lease_ids.begin(), lease_ids.end());
  auto r = eval(renew_s, {ns_ + ":leases"}, args);
  if (!r.ok()) {
    return r.error();
  }
  return static_cast<int>(integer_of((*r)->raw));
}

result<int> redis_store::adopt(const std::vector<std::string>& lease_ids, millis lease) {
  std::vector<std::string> args{std::to_string(lease.count())};
  args.insert(args.end(), lease_ids.begin(), lease_ids.end());
  auto r = eval(adopt_s, {ns_ + ":leases", ns_ + ":maxheld"}, args);
  if (!r.ok()) {
    return r.error();
  }
  return static_cast<int>(integer_of((*r)->raw));
}

status redis_store::release(const std::string& lease_id) {
  auto r = eval(release_s, {ns_ + ":leases"}, {lease_id});
  return r.ok() ? ok_status() : r.error();
}

result<int> redis_store::held() {
  auto r = eval(held_s, {ns_ + ":leases", ns_ + ":maxheld"}, {});
  if (!r.ok()) {
    return r.error();
  }
  return static_cast<int>(integer_of(element((*r)->raw, 0)));
}

result<int> redis_store::max_held() {
  auto r = eval(held_s, {ns_ + ":leases", ns_ + ":maxheld"}, {});
  if (!r.ok()) {
    return r.error();
  }
  return static_cast<int>(integer_of(element((*r)->raw, 1)));
}

result<pace_answer> redis_store::pace(double rate, int burst) {
  const auto interval = static_cast<std::int64_t>(std::ceil(1000.0 / rate));
  auto r = eval(pace_s, {ns_ + ":tat"},
                {std::to_string(interval), std::to_string(interval * (burst - 1))});
  if (!r.ok()) {
    return r.error();
  }
  pace_answer answer;
  answer.allowed = integer_of(element((*r)->raw, 0)) == 1;
  answer.retry_in = millis{integer_of(element((*r)->raw, 1))};
  return answer;
}

result<limit_answer> redis_store::limit(const aimd_params& params) {
  return limit_update("get", params, 0, false);
}

result<limit_answer> redis_store::limit_decrease(const aimd_params& params,
                                                 std::int64_t submitted_ms) {
  return limit_update("dec", params, submitted_ms, false);
}

result<limit_answer> redis_store::limit_increase(const aimd_params& params,
                                                 std::int64_t submitted_ms, bool grow) {
  return limit_update("inc", params, submitted_ms, grow);
}

result<limit_answer> redis_store::limit_update(const char* op, const aimd_params& params,
                                               std::int64_t submitted_ms, bool grow) {
  auto r =
      eval(limit_s, {ns_ + ":limit"},
           {op, number(params.initial), number(params.min), number(params.max), number(params.beta),
            std::to_string(submitted_ms), std::to_string(params.strikes), grow ? "1" : "0"});
  if (!r.ok()) {
    return r.error();
  }
  const auto* text = element((*r)->raw, 0);
  limit_answer answer;
  answer.limit = text != nullptr && text->type == REDIS_REPLY_STRING ? std::atof(text->str) : 0;
  answer.changed = integer_of(element((*r)->raw, 1)) == 1;
  return answer;
}

status redis_store::quota_stop(std::int64_t reset_ms) {
  auto r = eval(quota_s, {ns_ + ":quota"}, {std::to_string(reset_ms)});
  return r.ok() ? ok_status() : r.error();
}

result<std::optional<std::int64_t>> redis_store::quota() {
  auto r = eval(quota_s, {ns_ + ":quota"}, {"-1"});
  if (!r.ok()) {
    return r.error();
  }
  const auto reset = integer_of((*r)->raw);
  return reset >= 0 ? std::optional<std::int64_t>(reset) : std::nullopt;
}

status redis_store::circuit_open(std::int64_t until_ms) {
  auto r = eval(circuit_s, {ns_ + ":circuit", ns_ + ":probe"}, {"open", std::to_string(until_ms)});
  return r.ok() ? ok_status() : r.error();
}

status redis_store::circuit_close() {
  auto r = eval(circuit_s, {ns_ + ":circuit", ns_ + ":probe"}, {"close"});
  return r.ok() ? ok_status() : r.error();
}

result<circuit_answer> redis_store::circuit(const std::string& holder, millis probe_ttl) {
  auto r = eval(circuit_s, {ns_ + ":circuit", ns_ + ":probe"},
                {"get", holder, std::to_string(std::max<millis::rep>(1, probe_ttl.count()))});
  if (!r.ok()) {
    return r.error();
  }
  const auto* raw = (*r)->raw;
  circuit_answer answer;
  const auto state = integer_of(element(raw, 0));
  answer.now = state == 1   ? circuit_answer::state::open
               : state == 2 ? circuit_answer::state::half_open
                            : circuit_answer::state::closed;
  answer.until_ms = integer_of(element(raw, 1));
  answer.probe = integer_of(element(raw, 2)) == 1;
  return answer;
}

namespace {
std::string figure_arg(const std::optional<std::int64_t>& figure) {
  return figure ? std::to_string(*figure) : "-1";
}
std::optional<std::int64_t> figure_of(const redisReply* r) {
  const auto value = integer_of(r);
  return value >= 0 ? std::optional<std::int64_t>(value) : std::nullopt;
}
}  // namespace

status redis_store::ratelimit_record(const ratelimit_figures& figures, std::int64_t until_ms) {
  std::vector<std::string> args{"rec", figure_arg(figures.account_remaining),
                                std::to_string(until_ms)};
  for (const auto& [model, remaining] : figures.models) {
    args.push_back(model);
    args.push_back(std::to_string(remaining));
  }
  auto r = eval(ratelimit_s, {ns_ + ":ratelimit"}, args);
  return r.ok() ? ok_status() : r.error();
}

result<ratelimit_figures> redis_store::ratelimit() {
  auto r = eval(ratelimit_s, {ns_ + ":ratelimit"}, {"get"});
  if (!r.ok()) {
    return r.error();
  }
  // HGETALL: field, value, field, value...
  ratelimit_figures out;
  const redisReply* raw = (*r)->raw;
  for (std::size_t i = 0; raw != nullptr && i + 1 < raw->elements; i += 2) {
    const auto* field = element(raw, i);
    if (field == nullptr || field->type != REDIS_REPLY_STRING) {
      continue;
    }
    const std::string name(field->str, field->len);
    const auto value = figure_of(element(raw, i + 1));
    if (name == "account") {
      out.account_remaining = value;
    } else if (value && name.rfind("model:", 0) == 0) {
      out.models[name.substr(6)] = *value;
    }
  }
  return out;
}

result<int> redis_store::heartbeat(const std::string& process_id, millis ttl) {
  auto r = eval(procs_s, {ns_ + ":procs"}, {process_id, std::to_string(ttl.count())});
  if (!r.ok()) {
    return r.error();
  }
  return static_cast<int>(integer_of((*r)->raw));
}

status redis_store::ping() {
  auto r = command({"PING"});
  return r.ok() ? ok_status() : r.error();
}

}  // namespace zbatch::shared_limit
