// GroundingRepository: SQL for the grounding table (see grounding_repository.h).
#include "storage/grounding_repository.h"

namespace tessera::storage {

void fill_pixel_box(GroundingBox& box, int width, int height) {
    const double sx = width / 999.0, sy = height / 999.0;
    box.px0 = box.x0 * sx;
    box.py0 = box.y0 * sy;
    box.px1 = box.x1 * sx;
    box.py1 = box.y1 * sy;
}

namespace {

Status validate(const GroundingBox& b) {
    for (int v : {b.x0, b.y0, b.x1, b.y1})
        if (v < 0 || v > 999)
            return make_error(ErrorCode::InvalidArgument, "grounding box for '" + b.phrase +
                                                              "': coordinate " + std::to_string(v) + " outside 0..999");
    return {};
}

}  // namespace

Result<Id> GroundingRepository::add(GroundingBox b) {
    TESSERA_TRY(validate(b));
    TESSERA_ASSIGN(auto stmt,
                   m_db.cached("INSERT INTO grounding (message_id, attachment_id, position, phrase, x0, y0, x1, y1, px0, "
                               "py0, px1, py1) SELECT ?1, ?2, coalesce(max(position) + 1, 0), ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                               "?10, ?11 FROM grounding WHERE message_id = ?1"));
    TESSERA_TRY(stmt->bind_all(b.message_id, b.attachment_id, b.phrase, b.x0, b.y0, b.x1, b.y1, b.px0, b.py0, b.px1,
                               b.py1));
    TESSERA_TRY(stmt->run());
    return m_db.last_insert_id();
}

Status GroundingRepository::replace_for_message(Id message_id, const std::vector<GroundingBox>& boxes) {
    for (const auto& b : boxes) TESSERA_TRY(validate(b));
    TESSERA_ASSIGN(Transaction tx, Transaction::begin(m_db));
    {
        TESSERA_ASSIGN(auto del, m_db.cached("DELETE FROM grounding WHERE message_id = ?1"));
        TESSERA_TRY(del->bind(1, message_id));
        TESSERA_TRY(del->run());
    }
    for (GroundingBox b : boxes) {
        b.message_id = message_id;
        TESSERA_TRY(add(std::move(b)));
    }
    return tx.commit();
}

Result<std::vector<GroundingBox>> GroundingRepository::for_message(Id message_id) {
    TESSERA_ASSIGN(auto stmt, m_db.cached("SELECT id, message_id, attachment_id, position, phrase, x0, y0, x1, y1, px0, "
                                          "py0, px1, py1 FROM grounding WHERE message_id = ?1 ORDER BY position"));
    TESSERA_TRY(stmt->bind(1, message_id));
    std::vector<GroundingBox> out;
    while (true) {
        TESSERA_ASSIGN(bool row, stmt->step());
        if (!row) break;
        GroundingBox b;
        b.id = stmt->column_int(0);
        b.message_id = stmt->column_int(1);
        b.attachment_id = stmt->column_opt_int(2);
        b.position = static_cast<int>(stmt->column_int(3));
        b.phrase = stmt->column_text(4);
        b.x0 = static_cast<int>(stmt->column_int(5));
        b.y0 = static_cast<int>(stmt->column_int(6));
        b.x1 = static_cast<int>(stmt->column_int(7));
        b.y1 = static_cast<int>(stmt->column_int(8));
        b.px0 = stmt->column_double(9);
        b.py0 = stmt->column_double(10);
        b.px1 = stmt->column_double(11);
        b.py1 = stmt->column_double(12);
        out.push_back(std::move(b));
    }
    return out;
}

}  // namespace tessera::storage
