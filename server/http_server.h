// HttpServer: the node's one HTTP listener (DESIGN.md "Threads"), on http_addr, serving
//   GET /metrics  the Prometheus text exposition (Content-Type text/plain; version=0.0.4)
//   GET /healthz  200 "ok" while the process's loops make progress, else 503 and why
//   GET /readyz   200 "ready" once the local store is recovered and the node serves, else 503
//                 and the phase (recovering, stopping) — never gated on quorum
// and 404 / 405 for anything else. HEAD works wherever GET does. Built on civetweb (Debian's
// libcivetweb, which prometheus-cpp's own exposer also uses) with a small fixed thread pool; no
// files are served.
//
// Threads: handlers run on civetweb's threads and must be thread-safe. Lifecycle: Start (binds)
// -> destroy (stops, waits for requests in progress). The handlers must outlive it.
#pragma once

#include <sys/socket.h>

#include <expected>
#include <functional>
#include <memory>
#include <string>

struct mg_context;

namespace claw::server {

struct HttpHandlers {
  std::function<std::string()> metrics;
  // Return an empty string when fine, else the reason (answered with 503).
  std::function<std::string()> unhealthy;
  std::function<std::string()> unready;
};

class HttpServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks a free one). Fails when the address cannot
  // be bound.
  [[nodiscard]] static std::expected<std::unique_ptr<HttpServer>, std::string> Start(const std::string& address,
                                                                                     HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer() = default;
  HttpHandlers handlers_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  sockaddr_storage wake_{};  // connected to at shutdown to wake civetweb's listener
  socklen_t wake_len_ = 0;
};

}  // namespace claw::server
