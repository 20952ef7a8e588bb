#include "actors/shared_permits.hpp"

#include <algorithm>
#include <atomic>
#include <utility>

namespace zbatch::actors {
namespace {

/// The gate. Before a lease it reads the shared figures (the account's remaining count at 0
/// stops this process as the quota would; a model's at 0 is reported for that model's images) and
/// the shared circuit: open, it waits until the circuit half-opens; half-open, only the process
/// holding the store's probe sends, one attempt, whose acceptance closes the circuit for all and
/// whose server failure opens it again.
class shared_gate final : public permit_gate {
 public:
  shared_gate(std::unique_ptr<shared_limit::permit_client> client, store_clock clock)
      : client_(std::move(client)), clock_(std::move(clock)) {}

  answer acquire() override {
    answer out;
    const auto figures = client_->ratelimit();
    if (figures.account_remaining && *figures.account_remaining == 0) {
      out.quota_reset_ms = clock_(std::nullopt);
      out.retry_in = millis{1000};
      return out;
    }
    for (const auto& [model, remaining] : figures.models) {
      if (remaining == 0) {
        out.exhausted_models.push_back(model);
      }
    }
    const auto circuit = client_->circuit();
    const bool half_open = circuit.now == shared_limit::circuit_answer::state::half_open;
    if (circuit.now == shared_limit::circuit_answer::state::open) {
      out.retry_in = std::max(millis{1}, millis{circuit.until_ms - clock_(millis{0})});
      return out;
    }
    if (half_open && (!circuit.probe || probe_)) {
      out.retry_in = millis{100};  // another probe is out: its outcome decides
      return out;
    }
    const auto got = client_->acquire();
    out.permit = got.permit;
    out.quota_reset_ms = got.quota_reset_ms;
    if (got.quota_reset_ms) {
      seen_reset_ = *got.quota_reset_ms;
    }
    if (!got.permit) {
      out.retry_in = std::max(millis{1}, got.retry_in);
    } else if (half_open) {
      probe_ = got.permit;
    }
    return out;
  }
  void release(std::uint64_t permit) override {
    if (probe_ == permit) {
      probe_.reset();  // ended without a verdict (a 429, say): this process probes again
    }
    client_->release(permit);
  }
  void on_accepted(std::uint64_t permit, bool grow) override {
    if (probe_ == permit) {
      client_->on_circuit_close();
      probe_.reset();
    }
    client_->on_accepted(permit, grow);
  }
  void on_dynamic_429(std::uint64_t permit) override { client_->on_dynamic_429(permit); }
  void on_quota(std::optional<millis> retry_after) override {
    client_->on_quota(clock_(retry_after));
  }
  void on_server_failure(std::uint64_t permit) override {
    if (probe_ == permit) {
      client_->on_circuit_open(clock_(open_for_));
      probe_.reset();
    }
  }
  void on_circuit_opened(millis open_for) override {
    open_for_ = open_for;
    client_->on_circuit_open(clock_(open_for));
  }
  void on_ratelimit(const protocol::ratelimit_state& limits, const std::string& model) override {
    shared_limit::ratelimit_figures figures;
    figures.account_remaining = limits.account_remaining;
    if (limits.model_remaining) {
      figures.models[model] = *limits.model_remaining;
    }
    client_->on_ratelimit(figures, clock_(std::nullopt));
  }
  void set_open_for(millis open_for) { open_for_ = open_for; }
  std::optional<std::int64_t> quota_reset_seen() const override {
    const auto seen = seen_reset_.load();
    return seen > 0 ? std::optional<std::int64_t>(seen) : std::nullopt;
  }

 private:
  std::unique_ptr<shared_limit::permit_client> client_;
  store_clock clock_;
  std::optional<std::uint64_t> probe_;  ///< This process's half-open probe, while out.
  millis open_for_{10'000};
  std::atomic<std::int64_t> seen_reset_{0};  ///< 0: no quota stop seen in the store.
};

}  // namespace

shared_limit::permit_options shared_permit_options(const strategy_spec& strategy) {
  shared_limit::permit_options permits;
  const auto& inflight = strategy.inflight;
  if (inflight.adaptive) {
    permits.adaptive = shared_limit::aimd_params{
        static_cast<double>(inflight.initial), static_cast<double>(inflight.min),
        static_cast<double>(inflight.max), inflight.beta, inflight.strikes};
    // The adaptive floor is the guaranteed limit (1 for ModelScope's free tier).
    permits.guaranteed = inflight.min;
  } else {
    // A fixed limit is shared as it is; `unbounded` shares no limit worth the name.
    permits.limit = inflight.limit > 0 ? inflight.limit : 1'000'000;
    permits.guaranteed = permits.limit;
  }
  // Pacing between submits is shared too (a token bucket or a spacing); the rest after an
  // image (`gap`) stays per coordinator.
  if (strategy.pacing.type == pacing_spec::kind::token) {
    permits.pacing =
        std::make_pair(strategy.pacing.rate, std::max(1, static_cast<int>(strategy.pacing.burst)));
  } else if (strategy.pacing.type == pacing_spec::kind::spacing &&
             strategy.pacing.gap.count() > 0) {
    permits.pacing = std::make_pair(1000.0 / static_cast<double>(strategy.pacing.gap.count()), 1);
  }
  return permits;
}

std::shared_ptr<permit_gate> make_shared_permit_gate(
    std::unique_ptr<shared_limit::permit_client> client, store_clock clock, millis open_for) {
  auto gate = std::make_shared<shared_gate>(std::move(client), std::move(clock));
  gate->set_open_for(open_for);
  return gate;
}

}  // namespace zbatch::actors
