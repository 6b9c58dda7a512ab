#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace claw::server {

namespace {

void Send(mg_connection* conn, int status, std::string_view reason, std::string_view content_type,
          std::string_view body, std::string_view extra_headers = {}) {
  const mg_request_info* info = mg_get_request_info(conn);
  const bool head = info != nullptr && info->request_method != nullptr && std::strcmp(info->request_method, "HEAD") == 0;
  std::string header = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                       "\r\nContent-Type: " + std::string(content_type) +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-store\r\n" +
                       std::string(extra_headers) + "\r\n";
  mg_write(conn, header.data(), header.size());
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

// Only GET and HEAD; anything else is answered 405 here (returns false).
bool MethodAllowed(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const char* m = info == nullptr ? nullptr : info->request_method;
  if (m != nullptr && (std::strcmp(m, "GET") == 0 || std::strcmp(m, "HEAD") == 0)) return true;
  Send(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8", "only GET and HEAD\n", "Allow: GET, HEAD\r\n");
  return false;
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

int HandleMetrics(mg_connection* conn, void* data) {
  if (!MethodAllowed(conn)) return 200;
  const auto* h = static_cast<const HttpHandlers*>(data);
  Send(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", h->metrics());
  return 200;
}

int HandleProbe(mg_connection* conn, const std::function<std::string()>& problem, std::string_view good) {
  if (!MethodAllowed(conn)) return 200;
  const std::string why = problem();
  if (why.empty()) {
    Send(conn, 200, "OK", kText, std::string(good) + "\n");
    return 200;
  }
  Send(conn, 503, "Service Unavailable", kText, why + "\n");
  return 503;
}

int HandleHealthz(mg_connection* conn, void* data) {
  return HandleProbe(conn, static_cast<const HttpHandlers*>(data)->unhealthy, "ok");
}

int HandleReadyz(mg_connection* conn, void* data) {
  return HandleProbe(conn, static_cast<const HttpHandlers*>(data)->unready, "ready");
}

int HandleOther(mg_connection* conn, void*) {
  Send(conn, 404, "Not Found", kText, "not found: clawd serves /metrics, /healthz and /readyz\n");
  return 404;
}

int LogMessage(const mg_connection*, const char* message) {
  SPDLOG_WARN("http: {}", message);
  return 1;  // logged here; civetweb prints nothing itself
}

}  // namespace

std::expected<std::unique_ptr<HttpServer>, std::string> HttpServer::Start(const std::string& address,
                                                                          HttpHandlers handlers) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handlers_ = std::move(handlers);
  const char* options[] = {"listening_ports", address.c_str(),
                           "num_threads", "4",
                           "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes",
                           "keep_alive_timeout_ms", "30000",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogMessage;
  server->ctx_ = mg_start(&callbacks, nullptr, options);
  if (server->ctx_ == nullptr) {
    return std::unexpected("cannot listen on http_addr " + address + " (in use, or not an address of this host?)");
  }
  void* data = &server->handlers_;
  mg_set_request_handler(server->ctx_, "/metrics$", HandleMetrics, data);
  mg_set_request_handler(server->ctx_, "/healthz$", HandleHealthz, data);
  mg_set_request_handler(server->ctx_, "/readyz$", HandleReadyz, data);
  mg_set_request_handler(server->ctx_, "/", HandleOther, data);
  mg_server_port ports[4]{};
  const int n = mg_get_server_ports(server->ctx_, 4, ports);
  if (n > 0) server->port_ = ports[0].port;
  // Where a connection wakes the listener at shutdown: the bound address, loopback for a wildcard.
  const size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&server->wake_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&server->wake_);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) v6->sin6_addr = in6addr_loopback;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(server->port_));
    server->wake_len_ = sizeof(sockaddr_in6);
  } else {
    if (host.empty() || ::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1 || v4->sin_addr.s_addr == INADDR_ANY) {
      v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // a wildcard or a host name: loopback listens too
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(server->port_));
    server->wake_len_ = sizeof(sockaddr_in);
  }
  return server;
}

HttpServer::~HttpServer() {
  if (ctx_ == nullptr) return;
  // civetweb's listener thread sees the stop flag only between polls of its sockets (2 s each):
  // stop on another thread and wake that poll with a connection, so that a node's shutdown does
  // not wait out the poll.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(ctx_);
    stopped.store(true);
  });
  for (int i = 0; i < 100 && !stopped.load(); ++i) {
    const int fd = ::socket(wake_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      ::connect(fd, reinterpret_cast<const sockaddr*>(&wake_), wake_len_);
      ::close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopper.join();
}

}  // namespace claw::server
