#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::rooms {

// Rooms of one namespace on one shard: which members are in which rooms, both
// ways. Not thread-safe: each shard owns its own index.
template <typename Member>
class RoomIndex {
 public:
  using Members = absl::flat_hash_set<Member>;

  void Add(Member member) { rooms_of_.try_emplace(member); }

  void Join(Member member, std::string_view room) {
    auto& rooms = rooms_of_[member];
    if (rooms.emplace(room).second) members_of_[room].insert(member);
  }

  void Leave(Member member, std::string_view room) {
    auto it = rooms_of_.find(member);
    if (it == rooms_of_.end() || it->second.erase(room) == 0) return;
    EraseFromRoom(member, room);
  }

  // Removes the member from every room and from the index.
  void Remove(Member member) {
    auto it = rooms_of_.find(member);
    if (it == rooms_of_.end()) return;
    for (const std::string& room : it->second) EraseFromRoom(member, room);
    rooms_of_.erase(it);
  }

  // Everyone in the room, or null when the room is empty.
  const Members* MembersOf(std::string_view room) const {
    auto it = members_of_.find(room);
    return it == members_of_.end() ? nullptr : &it->second;
  }

  std::vector<std::string> RoomsOf(Member member) const {
    auto it = rooms_of_.find(member);
    if (it == rooms_of_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  // Calls fn for each member that is in any of `rooms` (every member when
  // `rooms` is empty) and in none of `except_rooms`, once each.
  template <typename Rooms, typename Fn>
  void ForEach(const Rooms& rooms, const Rooms& except_rooms, Fn&& fn) const {
    auto excluded = [&](Member member) {
      for (const auto& room : except_rooms) {
        const Members* members = MembersOf(room);
        if (members != nullptr && members->contains(member)) return true;
      }
      return false;
    };
    if (rooms.empty()) {
      for (const auto& [member, unused] : rooms_of_) {
        if (!excluded(member)) fn(member);
      }
      return;
    }
    if (rooms.size() == 1) {
      if (const Members* members = MembersOf(*rooms.begin())) {
        for (Member member : *members) {
          if (!excluded(member)) fn(member);
        }
      }
      return;
    }
    Members seen;
    for (const auto& room : rooms) {
      const Members* members = MembersOf(room);
      if (members == nullptr) continue;
      for (Member member : *members) {
        if (!excluded(member) && seen.insert(member).second) fn(member);
      }
    }
  }

  // Calls fn(room, member count) for each non-empty room.
  template <typename Fn>
  void ForEachRoom(Fn&& fn) const {
    for (const auto& [room, members] : members_of_) fn(room, members.size());
  }

  size_t member_count() const { return rooms_of_.size(); }
  size_t room_count() const { return members_of_.size(); }

 private:
  void EraseFromRoom(Member member, std::string_view room) {
    auto it = members_of_.find(room);
    if (it == members_of_.end()) return;
    it->second.erase(member);
    if (it->second.empty()) members_of_.erase(it);
  }

  absl::flat_hash_map<Member, runtime::StringSet> rooms_of_;
  runtime::StringMap<Members> members_of_;
};

}  // namespace sidecar::rooms
