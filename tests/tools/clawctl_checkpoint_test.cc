// clawctl's checkpoint commands without a cluster: parsing (arguments, options, names checked
// like the service does, usage errors) and the pure output formatting (table and JSON).
// Against real clawd processes: tests/e2e/checkpoint_e2e_test.cc.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/clawctl/args.h"
#include "tools/clawctl/checkpoint_commands.h"

namespace claw::clawctl {
namespace {

using std::chrono::milliseconds;

std::expected<Invocation, std::string> Parse(std::vector<std::string> args) { return ParseArgs(args, nullptr); }

TEST_CASE("clawctl parses the checkpoint commands", "[tools][checkpoint]") {
  auto create = Parse({"checkpoint", "create", "orders", "--sync", "--retention", "30s", "--max-sections", "8",
                       "--max-size", "1000", "--max-section-size", "100", "--collocated", "--active-node", "n2"});
  REQUIRE(create);
  CHECK(create->command == Command::kCheckpointCreate);
  CHECK(create->checkpoint.synchronous == std::optional<bool>(true));
  CHECK(create->checkpoint.retention == milliseconds(30'000));
  CHECK(create->checkpoint.max_sections == 8);
  CHECK(create->checkpoint.max_size == 1000);
  CHECK(create->checkpoint.max_section_size == 100);
  CHECK(create->checkpoint.collocated);
  CHECK(create->checkpoint.active_node == "n2");
  CHECK(Parse({"checkpoint", "create", "a", "--async"})->checkpoint.synchronous == std::optional<bool>(false));
  CHECK_FALSE(Parse({"checkpoint", "create", "a"})->checkpoint.synchronous.has_value());

  auto write = Parse({"checkpoint", "write", "orders", "s1", "v", "--create", "--expires", "500ms"});
  REQUIRE(write);
  CHECK(write->command == Command::kCheckpointWrite);
  CHECK(write->args == std::vector<std::string>{"orders", "s1", "v"});
  CHECK(write->checkpoint.create);
  CHECK(write->checkpoint.expires == milliseconds(500));
  auto file = Parse({"checkpoint", "write", "orders", "--file", "-"});
  REQUIRE(file);
  CHECK(file->checkpoint.file == std::optional<std::string>("-"));

  auto watch = Parse({"checkpoint", "watch", "orders", "--from-seq", "7", "--count", "3", "--timeout", "2s"});
  REQUIRE(watch);
  CHECK(watch->command == Command::kCheckpointWatch);
  CHECK(watch->checkpoint.from_sequence == 7);
  CHECK(watch->count == 3);
  CHECK(watch->watch_timeout == milliseconds(2000));
  auto retention = Parse({"checkpoint", "retention", "orders", "2m"});
  REQUIRE(retention);
  CHECK(retention->checkpoint.retention == milliseconds(120'000));
  CHECK(Parse({"checkpoint", "list"})->command == Command::kCheckpointList);
  CHECK(Parse({"checkpoint", "show", "a"})->command == Command::kCheckpointShow);
  CHECK(Parse({"checkpoint", "read", "a", "s"})->command == Command::kCheckpointRead);
  CHECK(Parse({"checkpoint", "unlink", "a"})->command == Command::kCheckpointUnlink);
  CHECK(Parse({"checkpoint", "delete-section", "a", "s"})->command == Command::kCheckpointDeleteSection);
  auto active = Parse({"checkpoint", "active", "a", "n2"});
  REQUIRE(active);
  CHECK(active->command == Command::kCheckpointActive);
  CHECK(active->args == std::vector<std::string>{"a", "n2"});
}

TEST_CASE("clawctl checkpoint usage errors say what is wrong", "[tools][checkpoint]") {
  CHECK(Parse({"checkpoint"}).error().find("create, list, show") != std::string::npos);
  CHECK(Parse({"checkpoint", "create"}).error().starts_with("usage: clawctl checkpoint create NAME"));
  CHECK(Parse({"checkpoint", "create", "bad name"}).error().starts_with("checkpoint NAME: checkpoint names use only"));
  CHECK(Parse({"checkpoint", "show", std::string(256, 'a')}).error().find("over the limit of 255") !=
        std::string::npos);
  CHECK(Parse({"checkpoint", "create", "a", "--sync", "--async"}).error() == "--sync and --async exclude each other");
  CHECK(Parse({"checkpoint", "create", "a", "--active-node", "n1"}).error() ==
        "checkpoint create: --active-node needs --collocated");
  CHECK(Parse({"checkpoint", "create", "a", "--retention", "soon"}).error().starts_with("--retention wants a duration"));
  CHECK(Parse({"checkpoint", "create", "a", "--max-size", "-1"}).error().find("--max-size") != std::string::npos);
  CHECK(Parse({"checkpoint", "write", "a"}).error().starts_with("usage: clawctl checkpoint write NAME"));
  CHECK(Parse({"checkpoint", "write", "a", "s", "v", "extra"}).error().starts_with("usage: clawctl checkpoint write"));
  CHECK(Parse({"checkpoint", "read", "a", "--create"}).error() == "option --create does not apply to 'checkpoint read'");
  CHECK(Parse({"checkpoint", "retention", "a", "forever"}).error().starts_with("checkpoint retention DUR wants"));
  CHECK(Parse({"checkpoint", "active", "a"}).error().starts_with("usage: clawctl checkpoint active NAME NODE"));
  CHECK(HelpText(Command::kCheckpointWatch).starts_with("usage: clawctl checkpoint create"));
  CHECK(HelpText(Command::kCheckpointCreate).find("KEPT FOR ITS RETENTION TIME") != std::string_view::npos);
  CHECK(HelpText(Command::kCheckpointCreate).find("exit codes:") != std::string_view::npos);
}

TEST_CASE("clawctl formats checkpoint status, lists and updates", "[tools][checkpoint]") {
  client::CheckpointStatus s;
  s.name = "orders";
  s.attributes.replication = client::CheckpointReplication::kSynchronous;
  s.attributes.retention_ms = 60000;
  s.size = 12;
  s.sections = 2;
  s.sequence = 9;
  s.handles = {{.handle = 3, .session = 77, .read = true, .write = true, .opened_unix_ms = 5}};
  s.active_node_id = 2;
  s.replica_node_ids = {1, 2, 3};
  s.shard_id = 4;
  const std::string table = FormatCheckpointStatus(s, OutputFormat::kTable);
  CHECK(table.starts_with("FIELD "));
  CHECK(table.find("SYNCHRONOUS") != std::string::npos);
  CHECK(table.find("3(rw,session 77)") != std::string::npos);
  CHECK(table.find("1,2,3\n") != std::string::npos);
  const std::string json = FormatCheckpointStatus(s, OutputFormat::kJson);
  CHECK(json.find("\"name\":\"orders\"") != std::string::npos);
  CHECK(json.find("\"replication\":\"SYNCHRONOUS\"") != std::string::npos);
  CHECK(json.find("\"sequence\":\"9\"") != std::string::npos);
  CHECK(json.find("\"replica_node_ids\":[\"1\",\"2\",\"3\"]") != std::string::npos);
  CHECK(FormatCheckpointList({s}, OutputFormat::kSimple) == "orders, SYNCHRONOUS, 12, 2, 9, 1, -, 2, 4\n");
  CHECK(FormatCheckpointList({}, OutputFormat::kJson) == "{\"checkpoints\":[]}\n");

  client::CheckpointUpdate u;
  u.sequence = 10;
  u.revision = 1234;
  u.sections = {{.section_id = "a", .data = "x\n"}, {.section_id = "b", .deleted = true}};
  u.handles_closed = {3};
  CHECK(FormatCheckpointUpdate(u, OutputFormat::kTable) == "10 [1234] a=x\\x0a -b -handle:3\n");
  u.snapshot = true;
  u.deleted = true;
  CHECK(FormatCheckpointUpdate(u, OutputFormat::kTable).starts_with("SNAPSHOT 10 [1234]"));
  CHECK(FormatCheckpointUpdate(u, OutputFormat::kTable).ends_with(" DELETED\n"));
  const std::string update_json = FormatCheckpointUpdate(u, OutputFormat::kJson);
  CHECK(update_json.find("\"sections\":[{\"id\":\"YQ==\",\"deleted\":false,\"data\":\"eAo=\"") != std::string::npos);
  CHECK(update_json.find("\"handles_closed\":[\"3\"]") != std::string::npos);
}

}  // namespace
}  // namespace claw::clawctl
