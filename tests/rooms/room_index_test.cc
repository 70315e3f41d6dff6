#include "sidecar/rooms/room_index.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::rooms {
namespace {

using ::testing::IsEmpty;
using ::testing::IsNull;
using ::testing::NotNull;
using ::testing::Pointee;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

using Index = RoomIndex<int>;
using RoomList = std::vector<std::string>;

TEST(RoomIndex, JoinIsVisibleFromTheRoomAndFromTheMember) {
  Index index;
  index.Join(1, "lobby");
  EXPECT_THAT(index.MembersOf("lobby"), Pointee(UnorderedElementsAre(1)));
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("lobby"));
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_EQ(index.room_count(), 1u);
}

TEST(RoomIndex, JoiningAMemberToSeveralRoomsListsThemAll) {
  Index index;
  index.Join(1, "a");
  index.Join(1, "b");
  index.Join(1, "c");
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("a", "b", "c"));
  EXPECT_EQ(index.room_count(), 3u);
}

TEST(RoomIndex, JoiningSeveralMembersToOneRoomListsThemAll) {
  Index index;
  index.Join(1, "lobby");
  index.Join(2, "lobby");
  index.Join(3, "lobby");
  EXPECT_THAT(index.MembersOf("lobby"), Pointee(UnorderedElementsAre(1, 2, 3)));
  EXPECT_EQ(index.member_count(), 3u);
}

TEST(RoomIndex, JoiningTheSameRoomTwiceIsUndoneByOneLeave) {
  Index index;
  index.Join(1, "lobby");
  index.Join(1, "lobby");
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("lobby"));
  index.Leave(1, "lobby");
  EXPECT_THAT(index.RoomsOf(1), IsEmpty());
  EXPECT_THAT(index.MembersOf("lobby"), IsNull());
}

TEST(RoomIndex, KeepsItsOwnCopyOfRoomNames) {
  Index index;
  {
    std::string room = "temporary";
    index.Join(1, room);
    room.assign("overwritten");
  }
  EXPECT_THAT(index.MembersOf("temporary"), Pointee(UnorderedElementsAre(1)));
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("temporary"));
}

TEST(RoomIndex, TreatsRoomNamesAsExactByteStrings) {
  Index index;
  index.Join(1, "Lobby");
  index.Join(2, "lobby");
  index.Join(3, "");
  index.Join(4, "\xC3\xA9t\xC3\xA9");
  EXPECT_THAT(index.MembersOf("Lobby"), Pointee(UnorderedElementsAre(1)));
  EXPECT_THAT(index.MembersOf("lobby"), Pointee(UnorderedElementsAre(2)));
  EXPECT_THAT(index.MembersOf(""), Pointee(UnorderedElementsAre(3)));
  EXPECT_THAT(index.MembersOf("\xC3\xA9t\xC3\xA9"), Pointee(UnorderedElementsAre(4)));
  EXPECT_THAT(index.MembersOf("lobby "), IsNull());
}

TEST(RoomIndex, LeaveTakesTheMemberOutOfThatRoomOnly) {
  Index index;
  index.Join(1, "a");
  index.Join(1, "b");
  index.Join(2, "a");
  index.Leave(1, "a");
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("b"));
  EXPECT_THAT(index.MembersOf("a"), Pointee(UnorderedElementsAre(2)));
  EXPECT_THAT(index.MembersOf("b"), Pointee(UnorderedElementsAre(1)));
}

TEST(RoomIndex, ARoomDisappearsWhenItsLastMemberLeaves) {
  Index index;
  index.Join(1, "a");
  index.Join(2, "a");
  index.Leave(1, "a");
  EXPECT_THAT(index.MembersOf("a"), NotNull());
  index.Leave(2, "a");
  EXPECT_THAT(index.MembersOf("a"), IsNull());
  EXPECT_EQ(index.room_count(), 0u);
}

TEST(RoomIndex, AMemberWhoLeftEveryRoomIsStillKnown) {
  Index index;
  index.Join(1, "a");
  index.Leave(1, "a");
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_THAT(index.RoomsOf(1), IsEmpty());
  std::vector<int> everyone;
  index.ForEach(RoomList{}, RoomList{}, [&](int member) { everyone.push_back(member); });
  EXPECT_THAT(everyone, UnorderedElementsAre(1));
}

TEST(RoomIndex, LeavingARoomNotJoinedChangesNothing) {
  Index index;
  index.Join(1, "a");
  index.Join(2, "b");
  index.Leave(1, "b");
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("a"));
  EXPECT_THAT(index.MembersOf("b"), Pointee(UnorderedElementsAre(2)));
  EXPECT_EQ(index.room_count(), 2u);
}

TEST(RoomIndex, LeaveByAnUnknownMemberDoesNotAddIt) {
  Index index;
  index.Join(1, "a");
  index.Leave(99, "a");
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_THAT(index.MembersOf("a"), Pointee(UnorderedElementsAre(1)));
}

TEST(RoomIndex, AddKnowsAMemberThatIsInNoRoom) {
  Index index;
  index.Add(1);
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_EQ(index.room_count(), 0u);
  EXPECT_THAT(index.RoomsOf(1), IsEmpty());
}

TEST(RoomIndex, AddKeepsTheRoomsOfAMemberAlreadyKnown) {
  Index index;
  index.Join(1, "a");
  index.Add(1);
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("a"));
  EXPECT_EQ(index.member_count(), 1u);
}

TEST(RoomIndex, RemoveTakesTheMemberOutOfEveryRoomAndForgetsIt) {
  Index index;
  index.Join(1, "a");
  index.Join(1, "b");
  index.Join(2, "b");
  index.Remove(1);
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_THAT(index.RoomsOf(1), IsEmpty());
  EXPECT_THAT(index.MembersOf("a"), IsNull());
  EXPECT_THAT(index.MembersOf("b"), Pointee(UnorderedElementsAre(2)));
  EXPECT_EQ(index.room_count(), 1u);
}

TEST(RoomIndex, RemoveForgetsAMemberThatIsInNoRoom) {
  Index index;
  index.Add(1);
  index.Remove(1);
  EXPECT_EQ(index.member_count(), 0u);
}

TEST(RoomIndex, RemovingAnUnknownMemberChangesNothing) {
  Index index;
  index.Join(1, "a");
  index.Remove(99);
  EXPECT_EQ(index.member_count(), 1u);
  EXPECT_THAT(index.MembersOf("a"), Pointee(UnorderedElementsAre(1)));
}

TEST(RoomIndex, ARemovedMemberCanJoinAgain) {
  Index index;
  index.Join(1, "a");
  index.Remove(1);
  index.Join(1, "b");
  EXPECT_THAT(index.RoomsOf(1), UnorderedElementsAre("b"));
  EXPECT_THAT(index.MembersOf("a"), IsNull());
}

TEST(RoomIndex, UnknownRoomsAndMembersLookEmpty) {
  Index index;
  EXPECT_THAT(index.MembersOf("nowhere"), IsNull());
  EXPECT_THAT(index.RoomsOf(1), IsEmpty());
  EXPECT_EQ(index.member_count(), 0u);
  EXPECT_EQ(index.room_count(), 0u);
}

TEST(RoomIndex, StaysConsistentThroughManyJoinsAndRemovals) {
  Index index;
  for (int member = 0; member < 100; ++member) {
    index.Join(member, "all");
    index.Join(member, "group" + std::to_string(member % 10));
    index.Join(member, "self" + std::to_string(member));
  }
  EXPECT_EQ(index.room_count(), 1u + 10u + 100u);
  for (int member = 0; member < 100; member += 2) index.Remove(member);
  EXPECT_EQ(index.member_count(), 50u);
  EXPECT_EQ(index.MembersOf("all")->size(), 50u);
  EXPECT_THAT(index.MembersOf("group0"), IsNull());  // only even members were in it
  EXPECT_THAT(index.MembersOf("group1"),
              Pointee(UnorderedElementsAre(1, 11, 21, 31, 41, 51, 61, 71, 81, 91)));
  EXPECT_EQ(index.room_count(), 1u + 5u + 50u);
}

// --- ForEach -----------------------------------------------------------------------

struct ForEachCase {
  std::string name;
  RoomList rooms;
  RoomList except_rooms;
  std::vector<int> expected;
};

// red: 1 2; blue: 2 3; green: 4; member 5 is in no room.
class ForEachVisits : public ::testing::TestWithParam<ForEachCase> {
 protected:
  void SetUp() override {
    index_.Join(1, "red");
    index_.Join(2, "red");
    index_.Join(2, "blue");
    index_.Join(3, "blue");
    index_.Join(4, "green");
    index_.Add(5);
  }
  Index index_;
};

TEST_P(ForEachVisits, EachSelectedMemberExactlyOnce) {
  std::vector<int> visited;
  index_.ForEach(GetParam().rooms, GetParam().except_rooms,
                 [&](int member) { visited.push_back(member); });
  // A duplicate visit would show as an extra element here.
  EXPECT_THAT(visited, UnorderedElementsAreArray(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    RoomsAndExceptions, ForEachVisits,
    ::testing::Values(
        ForEachCase{"NoRoomsMeansEveryMemberEvenThoseInNoRoom", {}, {}, {1, 2, 3, 4, 5}},
        ForEachCase{"OneRoom", {"red"}, {}, {1, 2}},
        ForEachCase{"OneRoomWithOneMember", {"green"}, {}, {4}},
        ForEachCase{"TwoOverlappingRoomsWithoutDuplicates", {"red", "blue"}, {}, {1, 2, 3}},
        ForEachCase{"SameRoomTwice", {"red", "red"}, {}, {1, 2}},
        ForEachCase{"EveryRoom", {"red", "blue", "green"}, {}, {1, 2, 3, 4}},
        ForEachCase{"UnknownRoom", {"nowhere"}, {}, {}},
        ForEachCase{"UnknownRoomAmongKnownOnes", {"nowhere", "green"}, {}, {4}},
        ForEachCase{"EveryoneExceptOneRoom", {}, {"red"}, {3, 4, 5}},
        ForEachCase{"EveryoneExceptTwoRooms", {}, {"red", "green"}, {3, 5}},
        ForEachCase{"EveryoneExceptAnUnknownRoom", {}, {"nowhere"}, {1, 2, 3, 4, 5}},
        ForEachCase{"OneRoomExceptItself", {"red"}, {"red"}, {}},
        ForEachCase{"OneRoomExceptAnOverlappingRoom", {"red"}, {"blue"}, {1}},
        ForEachCase{"OneRoomExceptADisjointRoom", {"red"}, {"green"}, {1, 2}},
        ForEachCase{"TwoRoomsExceptAnOverlappingRoom", {"red", "blue"}, {"blue"}, {1}},
        ForEachCase{"TwoRoomsExceptTheSharedMembersRoom", {"red", "green"}, {"blue"}, {1, 4}}),
    [](const auto& info) { return info.param.name; });

TEST(RoomIndexForEach, VisitsNobodyInAnEmptyIndex) {
  Index index;
  int visits = 0;
  index.ForEach(RoomList{}, RoomList{}, [&](int) { ++visits; });
  index.ForEach(RoomList{"a"}, RoomList{}, [&](int) { ++visits; });
  EXPECT_EQ(visits, 0);
}

TEST(RoomIndexForEach, DoesNotVisitMembersWhoLeftTheRoom) {
  Index index;
  index.Join(1, "a");
  index.Join(2, "a");
  index.Leave(2, "a");
  std::vector<int> visited;
  index.ForEach(RoomList{"a"}, RoomList{}, [&](int member) { visited.push_back(member); });
  EXPECT_THAT(visited, UnorderedElementsAre(1));
}

}  // namespace
}  // namespace sidecar::rooms
