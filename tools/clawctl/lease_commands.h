// clawctl's lease commands (claw.v1.Lease through client/lease.h): `lease grant TTL`, `lease
// revoke ID`, `lease ttl ID [--keys]`, `lease list`, `lease keep-alive ID [--once]`. The attaching
// side is `put KEY VALUE --lease ID` (commands.cc).
//
// Output: table/simple text, or JSON with -w json (documented per command in `clawctl lease
// --help` and tools/README.md). Exit codes: kExitOk, kExitFailed, kExitNotFound (the lease does
// not exist: LEASE_NOT_FOUND).
//
// Thread-safety: none needed (one command per process).
#pragma once

#include <iosfwd>
#include <vector>

#include "client/lease.h"
#include "tools/clawctl/args.h"

namespace claw::clawctl {

int RunLeaseCommand(const Invocation& inv, std::ostream& out, std::ostream& err);

std::string FormatLease(const client::LeaseInfo& lease, OutputFormat format);
std::string FormatLeases(const std::vector<client::LeaseInfo>& leases, OutputFormat format);

}  // namespace claw::clawctl
