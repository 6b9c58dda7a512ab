// clawctl watch: prints a key's, a prefix's or a range's changes (client::Watcher) until
// --count events were printed, --timeout passed, or the watch failed (see HelpText(kWatch)).
#pragma once

#include <ostream>

#include "client/client.h"
#include "tools/clawctl/args.h"

namespace claw::clawctl {

// Returns the exit code: kExitOk after --count events or at --timeout, kExitFailed when the
// watch failed for good (the error on `err`).
int RunWatch(const Invocation& inv, client::Client& client, std::ostream& out, std::ostream& err);

}  // namespace claw::clawctl
