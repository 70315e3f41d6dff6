#include "sidecar/cluster/cluster.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "sidecar/cluster/cluster_recovery.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"

namespace sidecar::cluster {
namespace {

using Envelope = ::socketio::sidecar::cluster::Envelope;
using runtime::Log;
using runtime::LogLevel;

constexpr std::chrono::milliseconds kAnnounceInterval{1000};
// A node not heard from for this long is no longer forwarded to.
constexpr std::chrono::milliseconds kNodeExpiry{5000};
// How long the outbox waits for the other nodes to subscribe again after an
// outage (their reconnection backoff reaches 5 s).
constexpr std::chrono::milliseconds kOutboxWait{8000};
constexpr std::chrono::milliseconds kOutboxPoll{100};
// How long stopping waits for Redis to take what was sent.
constexpr std::chrono::milliseconds kStopFlush{2000};

}  // namespace

// Sends the results of a command from another node back to it (nothing when
// that node asked for no answer).
class ReplyToNode : public socketio::OutcomeSink {
 public:
  ReplyToNode(Cluster& cluster, std::string origin, uint64_t request_id)
      : cluster_(cluster), origin_(std::move(origin)), request_id_(request_id) {}

  void OnClientAck(const std::string& sid, pb::Payload args) override {
    if (request_id_ == 0) return;
    Envelope envelope;
    pb::ClientAck* ack = envelope.mutable_client_ack();
    ack->set_request_id(request_id_);
    ack->set_sid(sid);
    *ack->mutable_args() = std::move(args);
    Send(std::move(envelope));
  }

  void OnOutcome(Outcome outcome) override {
    if (request_id_ == 0) return;
    Envelope envelope;
    *envelope.mutable_outcome() = std::move(outcome);
    Send(std::move(envelope));
  }

 private:
  void Send(Envelope envelope) {
    envelope.set_request_id(request_id_);
    boost::asio::post(cluster_.io_, [&cluster = cluster_, origin = origin_,
                                     envelope = std::move(envelope)]() mutable {
      cluster.Answer(origin, std::move(envelope));
    });
  }

  Cluster& cluster_;
  std::string origin_;
  uint64_t request_id_;
};

Cluster::Cluster(ClusterConfig config, Router& router)
    : config_(std::move(config)),
      router_(router),
      work_(io_.get_executor()),
      announce_timer_(io_),
      outbox_timer_(io_) {}

Cluster::~Cluster() { Stop(); }

absl::Status Cluster::Start() {
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl(config_.redis_url);
  if (!endpoint.ok()) return endpoint.status();
  if (config_.channel.empty()) return absl::InvalidArgumentError("channel must not be empty");
  publisher_ = std::make_shared<RedisConnection>(io_, *endpoint, "publisher");
  subscriber_ = std::make_shared<RedisConnection>(io_, *endpoint, "subscriber");
  boost::asio::post(io_, [this] {
    publisher_->Start(
        [this] {
          publisher_up_ = true;
          if (recovery_ != nullptr) recovery_->OnRedisUp(*publisher_);
          if (!outbox_.empty())
            FlushOutboxWhenHeard(std::chrono::steady_clock::now() + kOutboxWait);
        },
        [this](const std::string&) { OnPublisherDown(); });
    subscriber_->Start([this] { OnUp(); }, [this](const std::string&) { subscriber_up_ = false; });
    Announce(false);
  });
  thread_ = std::thread([this] { io_.run(); });
  Log(LogLevel::kInfo, "cluster node ", runtime::LocalNodeId(), " on channel ", config_.channel,
      " at ", endpoint->host, ":", endpoint->port, "; forwarded requests reach it at ",
      config_.address);
  return absl::OkStatus();
}

void Cluster::Stop() {
  if (!thread_.joinable()) return;
  // What a drain parked, and broadcasts just sent, still reach Redis.
  auto deadline = std::chrono::steady_clock::now() + kStopFlush;
  boost::asio::post(io_, [this, deadline] { StopWhenFlushed(deadline); });
  work_.reset();
  thread_.join();
}

void Cluster::StopWhenFlushed(std::chrono::steady_clock::time_point deadline) {
  if ((!outbox_.empty() || !unacked_.empty()) && publisher_up_ &&
      std::chrono::steady_clock::now() < deadline) {
    outbox_timer_.expires_after(kOutboxPoll);
    outbox_timer_.async_wait(
        [this, deadline](boost::system::error_code) { StopWhenFlushed(deadline); });
    return;
  }
  publisher_->Stop();
  subscriber_->Stop();
  announce_timer_.cancel();
  outbox_timer_.cancel();
  if (recovery_ != nullptr) recovery_->Stop();
  if (!outbox_.empty()) {
    Log(LogLevel::kWarning, "cluster: ", outbox_.size(),
        " commands for other replicas were still waiting for Redis at exit");
  }
  for (auto& [id, pending] : pending_) {
    pending.collector->Expire("the sidecar is stopping");
  }
  pending_.clear();
}

std::string Cluster::ChannelOf(std::string_view node) const {
  return absl::StrCat(config_.channel, "#", runtime::ToAbsl(node));
}

std::string Cluster::redis_state() const {
  return publisher_up_ && subscriber_up_ ? "connected" : "disconnected";
}

std::optional<std::string> Cluster::AddressOf(std::string_view node) const {
  std::lock_guard lock(nodes_mutex_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || std::chrono::steady_clock::now() - it->second.seen > kNodeExpiry) {
    return std::nullopt;
  }
  return it->second.address;
}

void Cluster::OnUp() {
  bool subscribed =
      subscriber_->Subscribe({config_.channel, ChannelOf(runtime::LocalNodeId())},
                             [this](const std::string& channel, const std::string& payload) {
                               OnMessage(channel, payload);
                             });
  subscriber_up_ = subscribed;
  if (subscribed) Announce(true);
}

void Cluster::Announce(bool reply_wanted) {
  Envelope envelope;
  envelope.set_origin(runtime::LocalNodeId());
  envelope.mutable_announcement()->set_address(config_.address);
  envelope.mutable_announcement()->set_reply_wanted(reply_wanted);
  PublishEnvelope(config_.channel, envelope, nullptr);
  if (reply_wanted) return;
  announce_timer_.expires_after(kAnnounceInterval);
  announce_timer_.async_wait([this](boost::system::error_code error) {
    if (!error) Announce(false);
  });
}

void Cluster::PublishEnvelope(const std::string& channel, const Envelope& envelope,
                              std::function<void(std::optional<long long>)> on_published) {
  std::string payload = envelope.SerializeAsString();
  // Commands without answers are worth delivering late; the rest are retried by their senders.
  if (!on_published && envelope.has_command()) {
    return SendOrQueue({"PUBLISH", channel, std::move(payload)}, nullptr);
  }
  bool sent = publisher_->Command({"PUBLISH", channel, std::move(payload)},
                                  [on_published](redisReply* reply) {
                                    if (!on_published) return;
                                    if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER)
                                      return on_published(std::nullopt);
                                    on_published(reply->integer);
                                  });
  if (!sent && on_published) on_published(std::nullopt);
}

void Cluster::Publish(std::shared_ptr<const Command> command, std::string_view node,
                      std::shared_ptr<socketio::CommandCollector> collector,
                      std::chrono::milliseconds timeout) {
  boost::asio::post(io_, [this, command = std::move(command), node = std::string(node),
                          collector = std::move(collector), timeout] {
    Envelope envelope;
    envelope.set_origin(runtime::LocalNodeId());
    *envelope.mutable_command() = *command;
    uint64_t id = 0;
    if (collector) {
      id = next_request_id_++;
      envelope.set_request_id(id);
      auto timer = std::make_unique<boost::asio::steady_timer>(io_, timeout);
      timer->async_wait([this, id, timeout](boost::system::error_code error) {
        if (error) return;
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        it->second.collector->Expire(
            absl::StrCat("a replica did not answer within ", timeout.count(), " ms"));
        pending_.erase(it);
      });
      pending_[id] = Pending{collector, std::move(timer)};
    }
    const bool to_one = !node.empty();
    const std::string& channel = to_one ? ChannelOf(node) : config_.channel;
    if (!collector) return PublishEnvelope(channel, envelope, nullptr);
    PublishEnvelope(
        channel, envelope, [this, id, to_one, collector](std::optional<long long> receivers) {
          if (!receivers) {
            if (to_one) {
              collector->Fail(pb::CODE_UNAVAILABLE,
                              "Redis is unreachable, and so is the replica that "
                              "owns the socket");
            }
            collector->PartDone();
            pending_.erase(id);
            return;
          }
          // Our own subscriber receives what we broadcast, and ignores it.
          long long others = *receivers - (!to_one && subscriber_up_ ? 1 : 0);
          if (to_one && others == 0) {
            collector->Fail(pb::CODE_NOT_FOUND, "no such socket: the replica that made it is gone");
          }
          collector->AddParts(static_cast<size_t>(std::max(0LL, others)));
          collector->PartDone();
          if (collector->finished()) pending_.erase(id);
        });
  });
}

size_t Cluster::LiveNodes() const {
  std::lock_guard lock(nodes_mutex_);
  size_t live = 1;
  auto now = std::chrono::steady_clock::now();
  for (const auto& [id, node] : nodes_) {
    // Heard in the last two announcements: a node that died just before is not waited for.
    if (id != runtime::LocalNodeId() && now - node.seen <= 2 * kAnnounceInterval + kOutboxPoll) {
      ++live;
    }
  }
  return live;
}

// Commands sent but not answered when the connection dropped may not have
// reached Redis: they go back to the head of the outbox, in order (a command
// Redis ran whose answer was lost is then published twice).
void Cluster::OnPublisherDown() {
  if (publisher_up_.exchange(false)) nodes_before_outage_ = LiveNodes();
  while (!unacked_.empty()) {
    outbox_bytes_ += unacked_.back().bytes;
    outbox_.push_front(std::move(unacked_.back()));
    unacked_.pop_back();
  }
  outbox_messages_ = outbox_.size();
}

bool Cluster::SendTracked(Queued& queued) {
  bool sent =
      publisher_->Command(queued.command, [this, on_reply = queued.on_reply](redisReply* reply) {
        // Without a reply, OnPublisherDown queues it again.
        if (reply == nullptr) return;
        unacked_.pop_front();
        if (on_reply) on_reply(reply);
      });
  if (sent) unacked_.push_back(std::move(queued));
  return sent;
}

void Cluster::SendOrQueue(std::vector<std::string> command,
                          RedisConnection::ReplyHandler on_reply) {
  size_t bytes = 0;
  for (const std::string& arg : command) bytes += arg.size();
  Queued queued{std::move(command), std::move(on_reply), bytes};
  if (outbox_.empty() && !flushing_ && SendTracked(queued)) return;
  if (outbox_bytes_ + bytes > config_.outbox_bytes) {
    if (outbox_dropped_++ == 0 || outbox_dropped_ % 1000 == 0) {
      Log(LogLevel::kError, "cluster: the outbox for Redis is full (", outbox_bytes_,
          " bytes); other replicas miss this command (", outbox_dropped_.load(),
          " dropped so far)");
    }
    if (queued.on_reply) queued.on_reply(nullptr);
    return;
  }
  outbox_bytes_ += bytes;
  outbox_.push_back(std::move(queued));
  outbox_messages_ = outbox_.size();
}

// Redis pub/sub keeps nothing for a subscriber that is not there yet, so the
// outbox waits (a bounded time) for every node that was there before.
void Cluster::FlushOutboxWhenHeard(std::chrono::steady_clock::time_point give_up) {
  flushing_ = true;
  auto flush = [this] {
    size_t sent = 0;
    while (!outbox_.empty()) {
      size_t bytes = outbox_.front().bytes;
      if (!SendTracked(outbox_.front())) break;
      outbox_bytes_ -= bytes;
      outbox_.pop_front();
      ++sent;
    }
    outbox_messages_ = outbox_.size();
    flushing_ = false;
    if (sent > 0)
      Log(LogLevel::kInfo, "cluster: published ", sent, " commands kept while Redis was down");
  };
  if (!publisher_up_) {
    flushing_ = false;
    return;
  }
  // This node's own subscription comes first: it delivers its own logged emits from it.
  if (subscriber_up_ && std::chrono::steady_clock::now() >= give_up) return flush();
  if (subscriber_up_) {
    bool asked = publisher_->Command(
        {"PUBSUB", "NUMSUB", config_.channel}, [this, give_up, flush](redisReply* reply) {
          long long listening = -1;
          if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
              reply->element[1]->type == REDIS_REPLY_INTEGER) {
            listening = reply->element[1]->integer;
          }
          if (listening >= static_cast<long long>(nodes_before_outage_)) return flush();
          outbox_timer_.expires_after(kOutboxPoll);
          outbox_timer_.async_wait([this, give_up](boost::system::error_code error) {
            if (!error) FlushOutboxWhenHeard(give_up);
          });
        });
    if (asked) return;
  }
  outbox_timer_.expires_after(kOutboxPoll);
  outbox_timer_.async_wait([this, give_up](boost::system::error_code error) {
    if (!error) FlushOutboxWhenHeard(give_up);
  });
}

void Cluster::OnMessage(const std::string&, const std::string& payload) {
  Envelope envelope;
  if (!envelope.ParseFromString(payload)) {
    Log(LogLevel::kWarning, "cluster: dropped a message that is not an Envelope (", payload.size(),
        " bytes); is another program using channel ", config_.channel, "?");
    return;
  }
  const std::string& origin = envelope.origin();
  // Logged emits reach every node, their origin too, in stream order.
  if (envelope.has_logged()) {
    if (recovery_ != nullptr) recovery_->OnLogged(envelope);
    return;
  }
  if (origin == runtime::LocalNodeId()) return;
  switch (envelope.kind_case()) {
    case Envelope::kCommand: {
      auto sink = std::make_shared<ReplyToNode>(*this, origin, envelope.request_id());
      router_.RunHere(std::make_shared<const Command>(std::move(*envelope.mutable_command())),
                      std::move(sink));
      return;
    }
    case Envelope::kAnnouncement: {
      {
        std::lock_guard lock(nodes_mutex_);
        nodes_[origin] = Node{envelope.announcement().address(), std::chrono::steady_clock::now()};
      }
      if (envelope.announcement().reply_wanted()) {
        Envelope reply;
        reply.set_origin(runtime::LocalNodeId());
        reply.mutable_announcement()->set_address(config_.address);
        PublishEnvelope(config_.channel, reply, nullptr);
      }
      return;
    }
    case Envelope::kClientAck: {
      auto it = pending_.find(envelope.request_id());
      if (it == pending_.end()) return;
      pb::ClientAck& ack = *envelope.mutable_client_ack();
      it->second.collector->RemoteAck(ack.sid(), std::move(*ack.mutable_args()));
      return;
    }
    case Envelope::kOutcome: {
      auto it = pending_.find(envelope.request_id());
      if (it == pending_.end()) return;
      it->second.collector->RemoteOutcome(envelope.outcome());
      if (it->second.collector->finished()) pending_.erase(it);
      return;
    }
    case Envelope::kLogged:  // handled above
    case Envelope::KIND_NOT_SET:
      return;
  }
}

void Cluster::Answer(const std::string& origin, Envelope envelope) {
  envelope.set_origin(runtime::LocalNodeId());
  PublishEnvelope(ChannelOf(origin), envelope, nullptr);
}

}  // namespace sidecar::cluster
