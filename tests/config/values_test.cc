// Value syntaxes: integers, byte sizes, durations, booleans, addresses, labels, initial_cluster.

#include "config/values.h"

#include <catch2/catch.hpp>

namespace claw::config {
namespace {

TEST_CASE("ParseUint takes plain decimal integers only", "[config]") {
  CHECK(ParseUint("0").value() == 0);
  CHECK(ParseUint("18446744073709551615").value() == UINT64_MAX);
  CHECK(ParseUint("18446744073709551616").error() == "integer \"18446744073709551616\" is too large");
  CHECK(ParseUint("99999999999999999999999").error().find("too large") != std::string::npos);
  CHECK(ParseUint("-1").error() == "must not be negative, got \"-1\"");
  CHECK(ParseUint("").error() == "expected an integer, got an empty value");
  CHECK(ParseUint("abc").error() == "expected an integer, got \"abc\"");
  CHECK(ParseUint("+5").error() == "expected an integer, got \"+5\"");
  CHECK(ParseUint("1.5").error() == "expected an integer, got \"1.5\"");
  CHECK(ParseUint("0x10").error() == "expected an integer, got \"0x10\"");
  CHECK(ParseUint(" 5").error() == "expected an integer, got \" 5\"");
  CHECK(ParseUint("1_000").error() == "expected an integer, got \"1_000\"");
  CHECK(ParseUint("010").error().starts_with("leading zeros are not allowed"));
}

TEST_CASE("ParseBytes takes integers and binary units", "[config]") {
  CHECK(ParseBytes("4096").value() == 4096);
  CHECK(ParseBytes("0").value() == 0);
  CHECK(ParseBytes("10B").value() == 10);
  CHECK(ParseBytes("512KiB").value() == 512 * kKiB);
  CHECK(ParseBytes("64MiB").value() == 64 * kMiB);
  CHECK(ParseBytes("64 MiB").value() == 64 * kMiB);
  CHECK(ParseBytes("1GiB").value() == kGiB);
  CHECK(ParseBytes("2TiB").value() == 2 * kGiB * kKiB);
  CHECK(ParseBytes("16777215TiB").value() == 16777215 * kGiB * kKiB);  // 2^64 - 2^40
}

TEST_CASE("ParseBytes refuses negatives, overflow, fractions and ambiguous units", "[config]") {
  CHECK(ParseBytes("16777216TiB").error() == "value \"16777216TiB\" is too large");
  CHECK(ParseBytes("99999999999999999999").error().find("too large") != std::string::npos);
  CHECK(ParseBytes("-1").error() == "must not be negative, got \"-1\"");
  CHECK(ParseBytes("-1MiB").error() == "must not be negative, got \"-1MiB\"");
  CHECK(ParseBytes("1.5GiB").error().starts_with("expected a byte size"));
  CHECK(ParseBytes("MiB").error().starts_with("expected a byte size"));
  CHECK(ParseBytes("").error().starts_with("expected a byte size"));
  CHECK(ParseBytes("64mib").error().starts_with("expected a byte size"));
  CHECK(ParseBytes("64  MiB").error().starts_with("expected a byte size"));
  CHECK(ParseBytes("64MB").error() ==
        "unit \"MB\" is ambiguous; write KiB, MiB, GiB or TiB (powers of 1024) or a plain number "
        "of bytes; got \"64MB\"");
  CHECK(ParseBytes("1G").error().starts_with("unit \"G\" is ambiguous"));
  CHECK(ParseBytes("0064MiB").error().starts_with("leading zeros"));
}

TEST_CASE("ParseMillis takes integer milliseconds and ms, s, m, h units", "[config]") {
  CHECK(ParseMillis("100").value() == 100);
  CHECK(ParseMillis("100ms").value() == 100);
  CHECK(ParseMillis("5s").value() == 5000);
  CHECK(ParseMillis("10m").value() == 600'000);
  CHECK(ParseMillis("2h").value() == 7'200'000);
  CHECK(ParseMillis("5 s").value() == 5000);
  CHECK(ParseMillis("1.5s").error().starts_with("expected a duration"));
  CHECK(ParseMillis("5us").error().starts_with("expected a duration"));
  CHECK(ParseMillis("5S").error().starts_with("expected a duration"));
  CHECK(ParseMillis("s").error().starts_with("expected a duration"));
  CHECK(ParseMillis("-5s").error() == "must not be negative, got \"-5s\"");
  CHECK(ParseMillis("18446744073709551615h").error().find("too large") != std::string::npos);
}

TEST_CASE("ParseBool takes exactly true and false", "[config]") {
  CHECK(ParseBool("true").value());
  CHECK_FALSE(ParseBool("false").value());
  for (const char* text : {"yes", "no", "on", "off", "1", "0", "True", "FALSE", ""}) {
    CHECK(ParseBool(text).error() == "expected true or false, got \"" + std::string(text) + "\"");
  }
}

TEST_CASE("ParseLogLevel takes spdlog's level names", "[config]") {
  CHECK(ParseLogLevel("trace").value() == LogLevel::kTrace);
  CHECK(ParseLogLevel("off").value() == LogLevel::kOff);
  CHECK(LogLevelName(LogLevel::kCritical) == "critical");
  CHECK(ParseLogLevel("warning").error() ==
        "expected one of trace, debug, info, warn, error, critical, off; got \"warning\"");
}

TEST_CASE("ParseHostPort checks host and port", "[config]") {
  CHECK(ParseHostPort("127.0.0.1:7379").value() == "127.0.0.1:7379");
  CHECK(ParseHostPort("db-1.example.com:1").value() == "db-1.example.com:1");
  CHECK(ParseHostPort("[::1]:65535").value() == "[::1]:65535");
  CHECK(ParseHostPort("0.0.0.0:80").value() == "0.0.0.0:80");
  CHECK(ParseHostPort("localhost").error() ==
        "expected host:port, such as 127.0.0.1:7379; got \"localhost\"");
  CHECK(ParseHostPort("").error().starts_with("expected host:port"));
  CHECK(ParseHostPort("[::1]").error().starts_with("expected host:port"));
  CHECK(ParseHostPort(":7379").error() == "host is missing in \":7379\"");
  CHECK(ParseHostPort("h:0").error() == "port must be an integer in [1, 65535], got \"0\" in \"h:0\"");
  CHECK(ParseHostPort("h:65536").error().starts_with("port must be an integer in [1, 65535]"));
  CHECK(ParseHostPort("h:").error().starts_with("port must be an integer in [1, 65535]"));
  CHECK(ParseHostPort("h:http").error().starts_with("port must be an integer in [1, 65535]"));
  CHECK(ParseHostPort("h:-1").error().starts_with("port must be an integer in [1, 65535]"));
  CHECK(ParseHostPort("::1:7379").error().starts_with("write an IPv6 address in brackets"));
  CHECK(ParseHostPort("[xyz]:1").error().starts_with("invalid IPv6 address"));
  CHECK(ParseHostPort("[]:1").error().starts_with("invalid IPv6 address"));
  CHECK(ParseHostPort("a b:1").error() ==
        "host \"a b\" may hold only letters, digits, '.' and '-'");
  CHECK(ParseHostPort(std::string(254, 'a') + ":1").error() ==
        "host name is longer than 253 characters");
  CHECK(IsWildcardAddr("0.0.0.0:1"));
  CHECK(IsWildcardAddr("[::]:1"));
  CHECK_FALSE(IsWildcardAddr("127.0.0.1:1"));
  CHECK(PortOf("[::1]:7380") == "7380");
}

TEST_CASE("ParseLabel allows [A-Za-z0-9._-] up to 64 characters", "[config]") {
  CHECK(ParseLabel("eu-west-1a", 0).value() == "eu-west-1a");
  CHECK(ParseLabel("", 0).value().empty());
  CHECK(ParseLabel("", 1).error() == "must not be empty");
  CHECK(ParseLabel(std::string(64, 'x'), 1).has_value());
  CHECK(ParseLabel(std::string(65, 'x'), 1).error() == "must be at most 64 characters, got 65");
  CHECK(ParseLabel("a/b", 0).error() ==
        "may hold only letters, digits, '.', '_' and '-'; got \"a/b\"");
}

TEST_CASE("ParseInitialCluster parses name=host:port lists in order", "[config]") {
  const auto members = ParseInitialCluster("n1=h1:7380,n2=h2:7380, n3=[::1]:7380 ");
  REQUIRE(members.has_value());
  CHECK(*members == std::vector<Member>{{"n1", "h1:7380"}, {"n2", "h2:7380"},
                                        {"n3", "[::1]:7380"}});
  CHECK(FormatInitialCluster(*members) == "n1=h1:7380,n2=h2:7380,n3=[::1]:7380");
  CHECK(ParseInitialCluster("").value().empty());
  CHECK(ParseInitialCluster("  ").value().empty());
}

TEST_CASE("ParseInitialCluster rejects malformed lists", "[config]") {
  CHECK(ParseInitialCluster("n1=h:1,n1=h:2").error() == "member name \"n1\" appears twice");
  CHECK(ParseInitialCluster("n1=h:1,n2=h:1").error() ==
        "members n1 and n2 have the same address h:1");
  CHECK(ParseInitialCluster("n1=h:1,").error() ==
        "empty entry at position 2 (stray comma?) in \"n1=h:1,\"");
  CHECK(ParseInitialCluster(",n1=h:1").error().starts_with("empty entry at position 1"));
  CHECK(ParseInitialCluster("n1=h:1,,n2=h:2").error().starts_with("empty entry at position 2"));
  CHECK(ParseInitialCluster("n1").error() == "entry \"n1\" is not name=host:port");
  CHECK(ParseInitialCluster("=h:1").error() == "member name in \"=h:1\" must not be empty");
  CHECK(ParseInitialCluster("n 1=h:1").error().starts_with("member name in \"n 1=h:1\" may hold"));
  CHECK(ParseInitialCluster("n1 = h:1").error().starts_with("member name in \"n1 = h:1\""));
  CHECK(ParseInitialCluster("n1=h:99999").error() ==
        "member n1: port must be an integer in [1, 65535], got \"99999\" in \"h:99999\"");
  CHECK(ParseInitialCluster("n1=h").error() ==
        "member n1: expected host:port, such as 127.0.0.1:7379; got \"h\"");
  CHECK(ParseInitialCluster("n1=0.0.0.0:1").error() ==
        "member n1: \"0.0.0.0:1\" is a wildcard; other nodes must be able to dial it");
  std::string many;
  for (int i = 1; i <= 65; ++i) {
    many += (i > 1 ? "," : "") + std::string("n") + std::to_string(i) + "=h:" + std::to_string(i);
  }
  CHECK(ParseInitialCluster(many).error() == "at most 64 members are allowed");
  CHECK(ParseInitialCluster(many.substr(0, many.rfind(','))).value().size() == 64);
}

TEST_CASE("FormatBytes picks the largest exact unit", "[config]") {
  CHECK(FormatBytes(0) == "0");
  CHECK(FormatBytes(1000) == "1000");
  CHECK(FormatBytes(1024) == "1KiB");
  CHECK(FormatBytes(1536) == "1536");
  CHECK(FormatBytes(64 * kMiB) == "64MiB");
  CHECK(FormatBytes(3 * kGiB) == "3GiB");
  CHECK(FormatBytes(2 * kGiB - 1) == "2147483647");
}

}  // namespace
}  // namespace claw::config
