// checkpoint_writer: the "application process" of tests/e2e/checkpoint_e2e_test.cc's kill -9
// case. It opens a checkpoint for writing with a session of its own (a lease it keeps alive),
// creates sections s0..s{N-1} (data v0..v{N-1}), one change each, printing
// "wrote SECTION SEQUENCE" per change and then "ready HANDLE LEASE", and then holds the handle
// open until it is killed. Any failure: the error on stderr, exit 1.
//
//   checkpoint_writer ENDPOINTS(a,b,c) NAME SESSION_TTL_MS SECTIONS
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "client/checkpoint.h"
#include "client/grpc_runtime.h"

int main(int argc, char** argv) {
  using namespace claw::client;
  DisableLockOrderChecks();
  if (argc != 5) {
    std::cerr << "usage: checkpoint_writer ENDPOINTS NAME SESSION_TTL_MS SECTIONS\n";
    return 2;
  }
  ClientOptions options;
  const std::string endpoints = argv[1];
  for (size_t start = 0; start <= endpoints.size();) {
    const size_t comma = std::min(endpoints.find(',', start), endpoints.size());
    if (comma > start) options.endpoints.push_back(endpoints.substr(start, comma - start));
    start = comma + 1;
  }
  options.default_deadline = std::chrono::seconds(10);
  const std::string name = argv[2];
  const std::chrono::milliseconds ttl(std::atoll(argv[3]));
  const int sections = std::atoi(argv[4]);
  auto fail = [](const Error& e) {
    std::cerr << "checkpoint_writer: " << e.ToString() << std::endl;
    return 1;
  };
  auto client = Client::Open(options);
  if (!client) return fail(client.error());
  CheckpointClient ckpt(**client);
  auto session = ckpt.StartSession(ttl);
  if (!session) return fail(session.error());
  auto handle = ckpt.Open(**session, name, {.read = true, .write = true});
  if (!handle) return fail(handle.error());
  for (int i = 0; i < sections; ++i) {
    const std::string id = "s" + std::to_string(i);
    auto created = handle->CreateSection({.section_id = id, .data = "v" + std::to_string(i)});
    if (!created) return fail(created.error());
    std::cout << "wrote " << id << " " << created->sequence << std::endl;
  }
  std::cout << "ready " << handle->id() << " " << (*session)->lease() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
