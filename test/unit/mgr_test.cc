// The manager's id-block allocator and its /etc/subuid, /etc/subgid, /etc/login.defs editing:
// pure logic, fed text and an injected exists() (no files, no privileges).
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "personalities/mgr/id_alloc.h"
#include "personalities/mgr/subid.h"
#include "test_util.h"

using namespace sv::mgr;
using sv::test::errorOf;

namespace {

constexpr uint32_t kUid = 100000;   // not 65536-aligned on purpose: blocks align to the pool
constexpr uint32_t kGid = 1000000;  // differs from the uid start
constexpr uint64_t kPool = 268435456;

uint32_t blockOf(const Allocation& a) {
  return (a.uidBase - kUid) / kBlockSize;
}

// Base of block b in a pool at kUid / kGid.
uint32_t uidOf(uint32_t b) {
  return kUid + b * kBlockSize;
}

bool containsAll(const std::string& text, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) {
    if (text.find(p) == std::string::npos) {
      UNSCOPED_INFO("missing '" << p << "' in: " << text);
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- id_alloc

TEST_CASE("policyFromName knows reuse and no-reuse only", "[mgr]") {
  CHECK(policyFromName("reuse") == SubidPolicy::kReuse);
  CHECK(policyFromName("no-reuse") == SubidPolicy::kNoReuse);
  CHECK_FALSE(policyFromName("").has_value());
  CHECK_FALSE(policyFromName("Reuse").has_value());
  CHECK_FALSE(policyFromName("noreuse").has_value());
  CHECK_FALSE(policyFromName("reuse ").has_value());
  CHECK(policyFromName(policyName(SubidPolicy::kReuse)) == SubidPolicy::kReuse);
  CHECK(policyFromName(policyName(SubidPolicy::kNoReuse)) == SubidPolicy::kNoReuse);
}

TEST_CASE("IdAllocator pool geometry", "[mgr]") {
  CHECK(IdAllocator(kUid, kGid, kPool, SubidPolicy::kNoReuse).blockCount() == 4096);
  // A partial block at the end is not used.
  CHECK(IdAllocator(kUid, kGid, 3 * kBlockSize + 5, SubidPolicy::kNoReuse).blockCount() == 3);
  CHECK(containsAll(
      errorOf<AllocError>([] { IdAllocator(kUid, kGid, kBlockSize - 1, SubidPolicy::kNoReuse); }),
      {"65535 ids", "/etc/subuid"}));
  // The last block may end at 4294967294 but must not contain (uid_t)-1.
  const uint32_t top = 0xFFFFFFFFu - 2 * kBlockSize;  // blocks [top, top+131072) end at 2^32-1
  CHECK(IdAllocator(top, kGid, 2 * kBlockSize, SubidPolicy::kNoReuse).blockCount() == 2);
  CHECK(containsAll(errorOf<AllocError>(
                        [&] { IdAllocator(top + 1, kGid, 2 * kBlockSize, SubidPolicy::kNoReuse); }),
                    {"uid pool", "/etc/subuid"}));
  CHECK(containsAll(errorOf<AllocError>(
                        [&] { IdAllocator(kUid, top + 1, 2 * kBlockSize, SubidPolicy::kNoReuse); }),
                    {"gid pool", "/etc/subgid"}));
  // 65536 blocks can never fit below (uid_t)-1.
  errorOf<AllocError>([] { IdAllocator(0, 0, uint64_t(1) << 32, SubidPolicy::kReuse); });
}

TEST_CASE("IdAllocator gives every container an exclusive block", "[mgr]") {
  IdAllocator alloc(kUid, kGid, kPool, SubidPolicy::kNoReuse);
  std::set<uint32_t> uids, gids;
  for (int i = 0; i < 4096; ++i) {
    const std::string id = "c" + std::to_string(i);
    const Allocation& a = alloc.acquire(id, "/var/lib/docker/" + id, 1000 + i);
    INFO(id);
    REQUIRE(a.id == id);
    CHECK(a.size == kBlockSize);
    CHECK(a.running);
    CHECK_FALSE(a.shared);
    CHECK(a.since == 1000 + i);
    CHECK(a.rootfs == "/var/lib/docker/" + id);
    REQUIRE(a.uidBase >= kUid);
    REQUIRE((a.uidBase - kUid) % kBlockSize == 0);
    REQUIRE(uint64_t(a.uidBase) + a.size <= kUid + kPool);
    // uid and gid blocks are the same block of two pools with different starts.
    REQUIRE(a.gidBase - kGid == a.uidBase - kUid);
    uids.insert(a.uidBase);
    gids.insert(a.gidBase);
  }
  // Aligned, in the pool and all distinct: the blocks are pairwise disjoint.
  CHECK(uids.size() == 4096);
  CHECK(gids.size() == 4096);
  CHECK(alloc.freeCount() == 0);
  CHECK(alloc.list().size() == 4096);
  CHECK(alloc.find("c17")->uidBase == uidOf(17));  // next-fit from an empty pool is in order
  CHECK(alloc.find("c17")->gidBase == kGid + 17 * kBlockSize);
}

TEST_CASE("IdAllocator keeps a stopped container's block", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 4 * kBlockSize, SubidPolicy::kNoReuse);
  const Allocation first = alloc.acquire("a", "/r/a", 10);
  alloc.acquire("b", "/r/b", 11);

  SECTION("stop then start: same block, new rootfs, running again") {
    REQUIRE(alloc.release("a", false, 20));
    const Allocation* stopped = alloc.find("a");
    REQUIRE(stopped != nullptr);
    CHECK_FALSE(stopped->running);
    CHECK(stopped->since == 20);
    CHECK(stopped->uidBase == first.uidBase);
    CHECK(alloc.freeCount() == 2);  // still held

    const Allocation& again = alloc.acquire("a", "/r/a2", 30);
    CHECK(again.uidBase == first.uidBase);
    CHECK(again.gidBase == first.gidBase);
    CHECK(again.rootfs == "/r/a2");
    CHECK(again.running);
    CHECK(again.since == 30);
    CHECK(alloc.freeCount() == 2);
  }
  SECTION("acquire of a running container keeps when it started") {
    const Allocation& again = alloc.acquire("a", "/r/a", 40);
    CHECK(again.uidBase == first.uidBase);
    CHECK(again.since == 10);
  }
  SECTION("stopping twice keeps when it stopped") {
    REQUIRE(alloc.release("a", false, 20));
    REQUIRE(alloc.release("a", false, 25));
    CHECK(alloc.find("a")->since == 20);
  }
  SECTION("unknown ids are not an error") {
    CHECK_FALSE(alloc.release("nope", false, 1));
    CHECK_FALSE(alloc.release("nope", true, 1));
    CHECK(alloc.find("nope") == nullptr);
  }
  SECTION("bad arguments are refused before anything changes") {
    CHECK(containsAll(errorOf<AllocError>([&] { alloc.acquire("c", "rel/path", 1); }),
                      {"'rel/path'", "'c'", "absolute"}));
    errorOf<AllocError>([&] { alloc.acquire("d", "", 1); });
    errorOf<AllocError>([&] { alloc.acquire("", "/r/x", 1); });
    CHECK(alloc.find("c") == nullptr);
    CHECK(alloc.freeCount() == 2);
  }
}

TEST_CASE("IdAllocator frees the block of a container gone for good", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 2 * kBlockSize, SubidPolicy::kNoReuse);
  alloc.acquire("a", "/r/a", 1);
  alloc.acquire("b", "/r/b", 1);
  REQUIRE(alloc.freeCount() == 0);
  REQUIRE(alloc.release("a", true, 2));
  CHECK(alloc.find("a") == nullptr);
  CHECK(alloc.freeCount() == 1);
  CHECK(alloc.list().size() == 1);
  // The only free block is a's old one; without the release this would throw.
  CHECK(alloc.acquire("c", "/r/c", 3).uidBase == uidOf(0));
  CHECK_FALSE(alloc.find("c")->shared);
}

TEST_CASE("IdAllocator hands out blocks next-fit", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 4 * kBlockSize, SubidPolicy::kNoReuse);
  CHECK(blockOf(alloc.acquire("a", "/r/a", 1)) == 0);
  CHECK(blockOf(alloc.acquire("b", "/r/b", 1)) == 1);
  alloc.release("a", true, 2);
  // Block 0 is free and lowest, but the blocks after the last one handed out come first.
  CHECK(blockOf(alloc.acquire("c", "/r/c", 3)) == 2);
  CHECK(blockOf(alloc.acquire("d", "/r/d", 3)) == 3);
  CHECK(alloc.cursor() == 0);
  // Wrapped around: block 1 is held, block 0 is the free one.
  CHECK(blockOf(alloc.acquire("e", "/r/e", 4)) == 0);
  CHECK(alloc.cursor() == 1);
  alloc.release("c", true, 5);  // block 2
  alloc.release("b", true, 5);  // block 1, freed later but sits before 2 from the cursor
  CHECK(blockOf(alloc.acquire("f", "/r/f", 6)) == 1);
  CHECK(blockOf(alloc.acquire("g", "/r/g", 6)) == 2);
}

TEST_CASE("IdAllocator with the pool exhausted", "[mgr]") {
  SECTION("no-reuse refuses and says what to do") {
    IdAllocator alloc(kUid, kGid, 2 * kBlockSize, SubidPolicy::kNoReuse);
    alloc.acquire("a", "/r/a", 1);
    alloc.acquire("b", "/r/b", 1);
    alloc.release("b", false, 2);
    const std::string msg = errorOf<AllocError>([&] { alloc.acquire("c", "/r/c", 3); });
    CHECK(containsAll(msg, {"all 2 id blocks", "1 of them stopped", "remove stopped containers",
                            "restart sysvisor-mgr with --subid-policy reuse"}));
    CHECK(alloc.find("c") == nullptr);
    CHECK(alloc.list().size() == 2);
    // Known containers still get their block back.
    CHECK(alloc.acquire("b", "/r/b", 4).uidBase == uidOf(1));
  }
  SECTION("reuse shares the block with the fewest holders, lowest first") {
    IdAllocator alloc(kUid, kGid, 3 * kBlockSize, SubidPolicy::kReuse);
    for (const char* id : {"a", "b", "c"}) CHECK_FALSE(alloc.acquire(id, "/r/x", 1).shared);
    const Allocation& d = alloc.acquire("d", "/r/d", 2);
    CHECK(d.shared);
    CHECK(blockOf(d) == 0);  // all hold 1: lowest base
    CHECK(blockOf(alloc.acquire("e", "/r/e", 2)) == 1);
    CHECK(blockOf(alloc.acquire("f", "/r/f", 2)) == 2);
    alloc.release("b", true, 3);  // block 1 back to 1 holder (e), 0 and 2 hold 2
    const Allocation& g = alloc.acquire("g", "/r/g", 4);
    CHECK(blockOf(g) == 1);
    CHECK(g.shared);
    // Freeing a block completely gives the next container that block exclusively.
    alloc.release("c", true, 5);
    alloc.release("f", true, 5);
    const Allocation& h = alloc.acquire("h", "/r/h", 6);
    CHECK(blockOf(h) == 2);
    CHECK_FALSE(h.shared);
    CHECK(alloc.find("a")->shared == false);
  }
}

TEST_CASE("IdAllocator table survives serialize and load", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 4 * kBlockSize, SubidPolicy::kReuse);
  for (const char* id : {"a", "b", "c", "d"}) alloc.acquire(id, std::string("/r/") + id, 100);
  alloc.acquire("e", "/r/e \"quoted\" ü", 200);  // shared, on block 0
  alloc.release("b", false, 300);
  alloc.release("c", true, 300);
  alloc.release("d", true, 300);
  alloc.acquire("f", "/r/f", 400);  // block 2, the cursor moves to 3
  alloc.release("f", true, 500);    // blocks 2 and 3 free: only the cursor says 3 comes first
  REQUIRE(alloc.cursor() == 3);
  const std::string text = alloc.serialize();

  // Policy is not part of the table.
  IdAllocator loaded(kUid, kGid, 4 * kBlockSize, SubidPolicy::kNoReuse);
  loaded.acquire("stale", "/r/stale", 1);
  loaded.load(text);
  CHECK(loaded.find("stale") == nullptr);
  CHECK(loaded.list() == alloc.list());
  CHECK(loaded.cursor() == alloc.cursor());
  CHECK(loaded.freeCount() == alloc.freeCount());
  CHECK(loaded.serialize() == text);
  const Allocation* e = loaded.find("e");
  REQUIRE(e != nullptr);
  CHECK(e->shared);
  CHECK(e->rootfs == "/r/e \"quoted\" ü");
  CHECK(e->since == 200);
  CHECK_FALSE(loaded.find("b")->running);
  CHECK(loaded.find("b")->since == 300);
  // Same cursor, same free blocks: both hand out block 3 next, not the lower free block 2.
  CHECK(blockOf(loaded.acquire("g", "/r/g", 600)) == 3);
  CHECK(blockOf(alloc.acquire("g", "/r/g", 600)) == 3);
  CHECK(loaded.serialize() == alloc.serialize());
}

TEST_CASE("IdAllocator load refuses tables it cannot trust", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 4 * kBlockSize, SubidPolicy::kNoReuse);
  alloc.acquire("keep", "/r/keep", 1);
  const std::string before = alloc.serialize();
  auto entry = [](std::string_view id, uint64_t uid, uint64_t gid, bool shared = false) {
    return "{\"id\":\"" + std::string(id) + "\",\"uidBase\":" + std::to_string(uid) +
           ",\"gidBase\":" + std::to_string(gid) +
           ",\"size\":65536,\"running\":true,\"since\":5,\"rootfs\":\"/r\",\"shared\":" +
           (shared ? "true" : "false") + "}";
  };
  auto table = [](const std::string& entries, uint64_t uid = kUid, uint64_t gid = kGid,
                  uint64_t pool = 4 * kBlockSize, uint64_t cursor = 0) {
    return "{\"version\":1,\"uidStart\":" + std::to_string(uid) +
           ",\"gidStart\":" + std::to_string(gid) + ",\"poolSize\":" + std::to_string(pool) +
           ",\"cursor\":" + std::to_string(cursor) + ",\"allocations\":[" + entries + "]}";
  };
  const uint32_t b1 = uidOf(1), g1 = kGid + kBlockSize;

  // Sanity: the builders make a table load() accepts, so the rejections below are about the
  // one thing each changes. Two holders of a block are fine when one is shared.
  IdAllocator ok(kUid, kGid, 4 * kBlockSize, SubidPolicy::kNoReuse);
  ok.load(table(entry("x", b1, g1) + "," + entry("y", b1, g1, true)));
  CHECK(ok.list().size() == 2);
  CHECK(ok.freeCount() == 3);

  struct Case {
    const char* what;
    std::string text;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"corrupt JSON", "{\"version\":1,", {"not valid JSON"}},
      {"empty", "", {"not valid JSON"}},
      {"number beyond a double", "{\"version\":1e999}", {"not valid JSON", "number overflow"}},
      {"not an object", "[]", {"not a JSON object"}},
      {"other version", "{\"version\":2}", {"version 2"}},
      {"no allocations",
       table("").substr(0, table("").find(",\"allocations\"")) + "}",
       {"\"allocations\""}},
      {"two non-shared holders",
       table(entry("x", b1, g1) + "," + entry("y", b1, g1)),
       {"'y'", "'x'", std::to_string(b1), "neither is shared"}},
      {"misaligned", table(entry("x", b1 + 4096, g1 + 4096)), {"'x'", "block boundary"}},
      {"below the pool",
       table(entry("x", kUid - kBlockSize, kGid - kBlockSize)),
       {"'x'", "outside the pool"}},
      {"past the pool",
       table(entry("x", uidOf(4), kGid + 4 * kBlockSize)),
       {"'x'", "outside the pool"}},
      {"gid block of another uid block", table(entry("x", b1, kGid)), {"'x'", "gid base"}},
      {"other uid start", table(entry("x", b1 + 1, g1), kUid + 1), {"written for", "uid 100001"}},
      {"other gid start",
       table(entry("x", b1, g1), kUid, kGid + kBlockSize),
       {"written for", "gid 1065536"}},
      {"other pool size",
       table(entry("x", b1, g1), kUid, kGid, 8 * kBlockSize),
       {"written for", "524288 ids"}},
      {"cursor outside the pool", table("", kUid, kGid, 4 * kBlockSize, 4), {"\"cursor\""}},
      {"duplicate id",
       table(entry("x", b1, g1) + "," + entry("x", uidOf(2), kGid + 2 * 65536)),
       {"'x'", "twice"}},
      {"wrong size",
       table("{\"id\":\"x\",\"uidBase\":" + std::to_string(b1) +
             ",\"gidBase\":" + std::to_string(g1) +
             ",\"size\":1,\"running\":true,\"since\":5,\"rootfs\":\"/r\",\"shared\":false}"),
       {"'x'", "size 1"}},
      {"missing field", table("{\"id\":\"x\"}"), {"'x'", "\"uidBase\""}},
      {"string for a number",
       table("{\"id\":\"x\",\"uidBase\":\"" + std::to_string(b1) + "\"}"),
       {"\"uidBase\""}},
      {"relative rootfs",
       table("{\"id\":\"x\",\"uidBase\":" + std::to_string(b1) +
             ",\"gidBase\":" + std::to_string(g1) +
             ",\"size\":65536,\"running\":true,\"since\":5,\"rootfs\":\"r\",\"shared\":false}"),
       {"'x'", "not absolute"}},
  };
  for (const Case& c : cases) {
    INFO(c.what << ": " << c.text);
    const std::string msg = errorOf<AllocError>([&] { alloc.load(c.text); });
    for (const std::string& s : c.says) CHECK_THAT(msg, Catch::Contains(s));
    // The old table is untouched.
    CHECK(alloc.serialize() == before);
  }
}

TEST_CASE("IdAllocator reap frees containers whose rootfs is gone", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 8 * kBlockSize, SubidPolicy::kNoReuse);
  alloc.acquire("running-gone", "/gone/1", 1);
  alloc.acquire("stopped-gone", "/gone/2", 1);
  alloc.acquire("stopped-here", "/here/3", 1);
  alloc.acquire("stopped-gone2", "/gone/4", 1);
  alloc.release("stopped-gone", false, 2);
  alloc.release("stopped-here", false, 2);
  alloc.release("stopped-gone2", false, 2);
  std::vector<std::string> asked;
  const auto freed = alloc.reap([&](const std::string& path, const std::string&) {
    asked.push_back(path);
    return path.starts_with("/here/");
  });
  // "running" but its rootfs is gone: a stale entry (a reboot, a delete that never came).
  CHECK(freed == std::vector<std::string>{"running-gone", "stopped-gone", "stopped-gone2"});
  CHECK(alloc.find("running-gone") == nullptr);
  CHECK(alloc.find("stopped-gone") == nullptr);
  CHECK(alloc.find("stopped-gone2") == nullptr);
  CHECK(alloc.find("stopped-here") != nullptr);
  CHECK(alloc.freeCount() == 7);
  CHECK(asked.size() == 4);
  CHECK(alloc.reap([](const std::string&, const std::string&) { return false; }) ==
        std::vector<std::string>{"stopped-here"});
}

TEST_CASE("IdAllocator keeps a rootfs's identity: one rebuilt at the same path is gone", "[mgr]") {
  IdAllocator alloc(kUid, kGid, 8 * kBlockSize, SubidPolicy::kNoReuse);
  alloc.acquire("a", "/bundle/rootfs", 1, "2049:100");
  alloc.release("a", false, 2);
  CHECK(alloc.find("a")->rootfsKey == "2049:100");
  // The same id registered again (docker start) records the rootfs it has now.
  alloc.acquire("a", "/bundle/rootfs", 3, "2049:100");
  auto sameDir = [](const std::string&, const std::string& key) { return key == "2049:100"; };
  CHECK(alloc.reap(sameDir).empty());
  alloc.acquire("b", "/bundle/rootfs", 4, "2049:777");  // another run, rootfs made anew
  CHECK(alloc.reap(sameDir) == std::vector<std::string>{"b"});
  // The key survives the table's round trip; tables without keys still load.
  IdAllocator again(kUid, kGid, 8 * kBlockSize, SubidPolicy::kNoReuse);
  again.load(alloc.serialize());
  CHECK(again.find("a")->rootfsKey == "2049:100");
  alloc.acquire("c", "/r", 5);
  IdAllocator third(kUid, kGid, 8 * kBlockSize, SubidPolicy::kNoReuse);
  third.load(alloc.serialize());
  CHECK(third.find("c")->rootfsKey.empty());
}

TEST_CASE("IdAllocator at the largest pool stays consistent", "[mgr]") {
  // 65535 blocks (the most that fit below (uid_t)-1) through a full fill, half freed, refilled.
  const uint64_t blocks = 65535;
  IdAllocator alloc(0, kBlockSize / 2, blocks * kBlockSize, SubidPolicy::kNoReuse);
  REQUIRE(alloc.blockCount() == blocks);
  for (uint64_t i = 0; i < blocks; ++i) alloc.acquire("c" + std::to_string(i), "/r", 1);
  REQUIRE(alloc.freeCount() == 0);
  CHECK(alloc.find("c65534")->uidBase == 65534u * kBlockSize);
  CHECK(alloc.find("c65534")->gidBase == 65534u * kBlockSize + kBlockSize / 2);
  for (uint64_t i = 0; i < blocks; i += 2) alloc.release("c" + std::to_string(i), true, 2);
  std::set<uint32_t> bases;
  for (const Allocation& a : alloc.list()) bases.insert(a.uidBase);
  for (uint64_t i = 0; i < blocks; i += 2) {
    const Allocation& a = alloc.acquire("n" + std::to_string(i), "/r", 3);
    REQUIRE_FALSE(a.shared);
    REQUIRE(bases.insert(a.uidBase).second);
  }
  CHECK(bases.size() == blocks);
  CHECK(alloc.freeCount() == 0);
}

// ---- subid

TEST_CASE("parseSubid reads entries and skips the rest", "[mgr]") {
  const auto entries = parseSubid(
      "# comment:1:2\n"
      "\n"
      "   \n"
      "alice:100000:65536\n"
      "1001:165536:65536\r\n"  // numeric-uid name, CRLF
      "broken:100000\n"
      "extra:1:2:3\n"
      ":1:2\n"
      "neg:-1:5\n"
      "word:abc:5\n"
      "empty::5\n"
      "huge:99999999999999999999:1\n"
      "hex:0x10000:010\n"  // shadow reads numbers like strtoul base 0
      "  spaced:200000:5  \n"
      "last:300000:7");
  REQUIRE(entries.size() == 5);
  CHECK(entries[0] == SubidEntry{"alice", 100000, 65536});
  CHECK(entries[1] == SubidEntry{"1001", 165536, 65536});
  CHECK(entries[2] == SubidEntry{"hex", 65536, 8});
  CHECK(entries[3] == SubidEntry{"spaced", 200000, 5});
  CHECK(entries[4] == SubidEntry{"last", 300000, 7});
  CHECK(parseSubid("").empty());
}

TEST_CASE("parseLoginDefs reads the SUB_*ID limits", "[mgr]") {
  const char* defs =
      "# SUB_UID_MIN 1\n"
      "UID_MIN 1000\n"
      "SUB_UID_MIN\t\t200000\n"
      "SUB_UID_MAX 600100000 # shadow's default\n"
      "SUB_GID_MIN \"300000\"\n"
      "SUB_GID_MAX 7x\n"
      "SUB_GID_MAX\n"
      "sub_gid_max 5\n";
  const SubidLimits uid = parseLoginDefs(defs, false);
  CHECK(uid.min == 200000);
  CHECK(uid.max == 600100000);
  const SubidLimits gid = parseLoginDefs(defs, true);
  CHECK(gid.min == 300000);
  CHECK(gid.max == 4294967295u);  // malformed and lower-case definitions ignored

  const SubidLimits none = parseLoginDefs("", false);
  CHECK(none.min == 100000);
  CHECK(none.max == 4294967295u);
  // The last definition wins, as in shadow; hex as in shadow.
  CHECK(parseLoginDefs("SUB_UID_MIN 1\nSUB_UID_MIN 0x20000\n", false).min == 131072);
  CHECK(parseLoginDefs("SUB_UID_MIN 1\nSUB_UID_MIN 0x20000\n", true).min == 100000);
}

TEST_CASE("ensureEntry places the pool in the first aligned hole", "[mgr]") {
  const SubidLimits limits;
  const uint64_t pool = 268435456;

  SECTION("empty file") {
    const auto r = ensureEntry("", "sysvisor", pool, limits);
    CHECK(r.changed);
    CHECK(r.start == 131072);  // lowest multiple of 65536 >= 100000
    CHECK(r.count == pool);
    CHECK(r.text == "sysvisor:131072:268435456\n");
  }
  SECTION("after a typical first user") {
    const auto r = ensureEntry("user:100000:65536\n", "sysvisor", pool, limits);
    CHECK(r.start == 196608);  // user ends at 165536
    CHECK(r.text == "user:100000:65536\nsysvisor:196608:268435456\n");
  }
  SECTION("in a hole between two entries, skipping one too small") {
    const std::string text =
        "a:100000:65536\n"      // up to 165536
        "b:200000:10\n"         // 196608 would overlap it
        "c:1000000000:65536\n"  // far away
        "d:262144:65536\n";     // not sorted: 262144 is taken too
    const auto r = ensureEntry(text, "sysvisor", 65536 * 4, limits);
    CHECK(r.start == 327680);
    CHECK(r.text == text + "sysvisor:327680:262144\n");
    // A range ending exactly where the next entry starts does not overlap it.
    const auto tight = ensureEntry("a:100000:96608\nb:196608:1\n", "sv", 1, limits);
    CHECK(tight.start == 262144);
    const auto fitsBefore = ensureEntry("b:196608:1\n", "sv", 65536, limits);
    CHECK(fitsBefore.start == 131072);
  }
  SECTION("a too-small old sysvisor entry is skipped and left alone") {
    const std::string text = "user:100000:65536\nsysvisor:196608:65536\n";
    const auto r = ensureEntry(text, "sysvisor", pool, limits);
    CHECK(r.changed);
    CHECK(r.start == 262144);
    CHECK(r.text == text + "sysvisor:262144:268435456\n");
  }
  SECTION("an existing big-enough entry is kept byte for byte") {
    const std::string text =
        "# local\n\nuser:100000:65536\r\n  sysvisor:1000000:268435457\nother:1:2";
    const auto r = ensureEntry(text, "sysvisor", pool, limits);
    CHECK_FALSE(r.changed);
    CHECK(r.text == text);
    CHECK(r.start == 1000000);
    CHECK(r.count == 268435457);
    // Even where the limits would not put it now.
    const auto low = ensureEntry("sysvisor:5:268435456\n", "sysvisor", pool, limits);
    CHECK_FALSE(low.changed);
    CHECK(low.start == 5);
  }
  SECTION("a file without a trailing newline gets one") {
    const auto r = ensureEntry("user:100000:65536", "sysvisor", 65536, limits);
    CHECK(r.text == "user:100000:65536\nsysvisor:196608:65536\n");
  }
  SECTION("malformed and comment lines are kept but do not block") {
    const std::string text = "# sysvisor:131072:5\ngarbage\n";
    const auto r = ensureEntry(text, "sysvisor", 65536, limits);
    CHECK(r.start == 131072);
    CHECK(r.text == text + "sysvisor:131072:65536\n");
  }
}

TEST_CASE("ensureEntry respects the limits", "[mgr]") {
  SECTION("min is rounded up to a block") {
    const auto r = ensureEntry("", "sv", 65536, SubidLimits{1000000, 4294967295});
    CHECK(r.start == 1048576);
  }
  SECTION("max is inclusive") {
    CHECK(ensureEntry("", "sv", 65536, SubidLimits{100000, 131072 + 65535}).start == 131072);
    const std::string msg = errorOf<std::runtime_error>([] {
      ensureEntry("", "sv", 65536, SubidLimits{100000, 131072 + 65534}, "/etc/subgid");
    });
    CHECK(containsAll(msg, {"65536 ids", "'sv'", "/etc/subgid", "[100000, 196606]",
                            "/etc/login.defs", "remove unused entries"}));
  }
  SECTION("no hole left") {
    const std::string text = "a:100000:100000\nb:200000:200000\n";
    const std::string msg = errorOf<std::runtime_error>([&] {
      ensureEntry(text, "sysvisor", 65536, SubidLimits{100000, 400000}, "/etc/subuid");
    });
    CHECK(containsAll(msg, {"/etc/subuid", "[100000, 400000]"}));
    // Room for the block at 458752 (400000 rounded up) and it fits after b.
    CHECK(ensureEntry(text, "sysvisor", 65536, SubidLimits{100000, 524287}).start == 458752);
    errorOf<std::runtime_error>([&] {
      ensureEntry(text, "sysvisor", 65536, SubidLimits{100000, 524286});
    });
  }
  SECTION("min above max") {
    errorOf<std::runtime_error>([] { ensureEntry("", "sv", 1, SubidLimits{500000, 400000}); });
  }
  SECTION("bad requests") {
    errorOf<std::runtime_error>([] { ensureEntry("", "sv", 0, SubidLimits{}); });
    errorOf<std::runtime_error>([] { ensureEntry("", "a:b", 1, SubidLimits{}); });
    errorOf<std::runtime_error>([] { ensureEntry("", "a\nb", 1, SubidLimits{}); });
    errorOf<std::runtime_error>([] { ensureEntry("", "", 1, SubidLimits{}); });
  }
}

TEST_CASE("ensureEntry does not overflow near 2^32", "[mgr]") {
  const SubidLimits top{0xFFFE0000u, 4294967295u};
  SECTION("the last whole block below (uid_t)-1 is not usable, the one before is") {
    const auto r = ensureEntry("", "sv", 65536, top);
    CHECK(r.start == 0xFFFE0000u);
    // 0xFFFF0000 + 65536 would reach 4294967295.
    errorOf<std::runtime_error>([&] { ensureEntry("x:4294836224:1\n", "sv", 65536, top); });
    // 65535 ids there end at 4294967294.
    CHECK(ensureEntry("x:4294836224:1\n", "sv", 65535, top).start == 0xFFFF0000u);
  }
  SECTION("a limit past 32 bits is clamped") {
    const SubidLimits wide{0xFFFE0000u, ~uint64_t(0)};
    errorOf<std::runtime_error>([&] { ensureEntry("x:4294836224:1\n", "sv", 65536, wide); });
  }
  SECTION("counts up to 2^32") {
    errorOf<std::runtime_error>([] { ensureEntry("", "sv", uint64_t(1) << 32, SubidLimits{}); });
    errorOf<std::runtime_error>([] {
      ensureEntry("", "sv", ~uint64_t(0), SubidLimits{0, ~uint64_t(0)});
    });
    const auto all = ensureEntry("", "sv", 0xFFFFFFFFu, SubidLimits{0, 4294967295u});
    CHECK(all.start == 0);
    CHECK(all.count == 0xFFFFFFFFu);
  }
  SECTION("entries whose end overflows 64 bits") {
    const std::string text =
        "huge:18446744073709551615:18446744073709551615\n"
        "big:4294000000:4294967296\n";
    const auto r = ensureEntry(text, "sv", 65536, SubidLimits{});
    CHECK(r.start == 131072);
    errorOf<std::runtime_error>([&] {
      ensureEntry(text, "sv", 65536, SubidLimits{4293984256u, 4294967295u});
    });
  }
}
