#include "client/scanner.h"

#include <utility>

#include "client/convert.h"

namespace claw::client {

Scanner::Scanner(Dispatcher& dispatcher, std::string_view start, std::string_view end,
                 const ScanOptions& scan, const CallOptions& options)
    : dispatcher_(dispatcher),
      lo_(start),
      hi_(end),
      scan_(scan),
      options_(options),
      deadline_(dispatcher.DeadlineOf(options)) {}

std::expected<bool, Error> Scanner::Run(const std::function<bool(const KeyValue&)>& visit) {
  for (;;) {
    if (scan_.limit != 0 && delivered_ >= scan_.limit) return true;
    if (!hi_.empty() && lo_ >= hi_) return false;
    const std::string lo_before = lo_;
    const std::string hi_before = hi_;
    bool stopped = false;
    auto stream_end = ScanOneShard(visit, &stopped);
    if (!stream_end) return std::unexpected(stream_end.error());
    if (stopped) return true;
    if (stream_end->more) {
      if (!Advance(stream_end->resume_key, lo_before, hi_before)) break;
      continue;
    }
    if (stream_end->next_shard) {
      if (!Advance(stream_end->next_key, lo_before, hi_before)) break;
      continue;
    }
    return false;
  }
  Error error;
  error.code = ErrorCode::kInternal;
  error.message = "the server's scan continuation does not advance";
  return std::unexpected(std::move(error));
}

bool Scanner::Advance(const std::string& key, const std::string& lo_before,
                      const std::string& hi_before) {
  if (key.empty()) return false;
  if (scan_.reverse) {
    if (!hi_before.empty() && key >= hi_before) return false;
    if (hi_.empty() || key < hi_) hi_ = key;
  } else {
    if (key <= lo_before) return false;
    if (key > lo_) lo_ = key;
  }
  return true;
}

std::expected<Scanner::StreamEnd, Error> Scanner::ScanOneShard(
    const std::function<bool(const KeyValue&)>& visit, bool* stopped) {
  Dispatcher::Call call;
  call.route_key = scan_.reverse ? hi_ : lo_;
  call.route_by = scan_.reverse ? Dispatcher::RouteBy::kBefore : Dispatcher::RouteBy::kKey;
  call.kind = Dispatcher::Kind::kRead;
  call.options = options_;
  call.deadline = deadline_;
  StreamEnd stream_end;
  auto done = dispatcher_.Run(call, [&](const Dispatcher::Target& target,
                                        grpc::ClientContext& context) {
    stream_end = StreamEnd{};
    v1::ScanRequest request;
    *request.mutable_header() = target.header;
    request.set_start_key(lo_);
    request.set_end_key(hi_);
    request.set_limit(scan_.limit == 0 ? 0 : scan_.limit - delivered_);
    request.set_reverse(scan_.reverse);
    request.set_keys_only(scan_.keys_only);
    std::unique_ptr<grpc::ClientReader<v1::ScanResponse>> reader =
        target.kv->Scan(&context, request);
    v1::ScanResponse page;
    while (!*stopped && reader->Read(&page)) {
      for (const v1::KeyValue& kv : page.kvs()) {
        if (scan_.reverse) {
          hi_ = kv.key();
        } else {
          lo_ = kv.key();
          lo_.push_back('\0');  // the smallest key after kv.key()
        }
        ++delivered_;
        if (!visit(ToKeyValue(kv))) {
          *stopped = true;
          context.TryCancel();
          break;
        }
      }
      if (page.more() || page.next_shard()) {
        stream_end = StreamEnd{page.more(), page.resume_key(), page.next_shard(), page.next_key()};
      }
    }
    const grpc::Status status = reader->Finish();
    return *stopped ? grpc::Status::OK : status;
  });
  if (!done) return std::unexpected(done.error());
  return stream_end;
}

}  // namespace claw::client
