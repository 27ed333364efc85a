// GroundingRepository: the boxes a vision model drew for a message, each with its referring phrase, in the
// model's 0..999 coordinates and in pixels of the image it was drawn on.
// Thread use: as its Database (one thread at a time).
#pragma once

#include <vector>

#include "storage/database.h"
#include "storage/types.h"

namespace tessera::storage {

// Pixel coordinates of a 0..999 box on a width x height image (the models' convention: value / 999).
void fill_pixel_box(GroundingBox& box, int width, int height);

class GroundingRepository {
public:
    explicit GroundingRepository(Database& db) : m_db(db) {}

    // Replaces the message's boxes with these, in order (positions are renumbered 0..n-1), in one commit.
    Status replace_for_message(Id message_id, const std::vector<GroundingBox>& boxes);
    // Adds one box after the existing ones; returns its id.
    Result<Id> add(GroundingBox box);
    Result<std::vector<GroundingBox>> for_message(Id message_id);

private:
    Database& m_db;
};

}  // namespace tessera::storage
