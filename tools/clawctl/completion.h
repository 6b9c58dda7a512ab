// `clawctl completion bash`: a bash completion script made from the command table (args.h), so
// that it always offers what the parser accepts. Load it with `source <(clawctl completion bash)`
// or install it as /usr/share/bash-completion/completions/clawctl.
//
// The script defines _clawctl (the completion function) and registers it for `clawctl`. It
// completes the command words (`clawctl sh<TAB>` -> shard, `clawctl shard <TAB>` -> its
// subcommands), then options: the global ones everywhere, plus the command's own; and the
// values of -w, --consistency, --durability and `completion`. Pure; thread-safe.
#pragma once

#include <string>

namespace claw::clawctl {

std::string BashCompletionScript();

}  // namespace claw::clawctl
