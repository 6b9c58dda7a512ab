#include "server/http_server.h"

#include <civetweb.h>

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
  return server;
}

HttpServer::~HttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

}  // namespace claw::server
