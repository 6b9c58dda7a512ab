// clawctl's checkpoint commands (claw.v1.Checkpoint through client/checkpoint.h): `checkpoint
// create|list|show|read|write|unlink|watch|delete-section|retention`. The commands that need a
// handle open one with a session of their own (a 5 s lease kept alive while they run, revoked at
// their end, closing the handle); `create` therefore leaves a checkpoint with no open handle,
// which the service keeps for its retention time and then deletes (the SAF model; --help says so).
//
// Output: table/simple text or JSON with -w json (`clawctl checkpoint --help`, tools/README.md).
// Exit codes: kExitOk, kExitFailed, kExitNotFound (CHECKPOINT_NOT_FOUND,
// CHECKPOINT_SECTION_NOT_FOUND).
//
// Thread-safety: none needed (one command per process). The Format* functions are pure.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "client/checkpoint.h"
#include "tools/clawctl/args.h"

namespace claw::clawctl {

int RunCheckpointCommand(const Invocation& inv, client::Client& client, std::istream& in,
                         std::ostream& out, std::ostream& err);

std::string FormatCheckpointStatus(const client::CheckpointStatus& status, OutputFormat format);
std::string FormatCheckpointList(const std::vector<client::CheckpointStatus>& list, OutputFormat format);
std::string FormatCheckpointUpdate(const client::CheckpointUpdate& update, OutputFormat format);

}  // namespace claw::clawctl
