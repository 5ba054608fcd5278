-- Issue 18, the gap: when an admin suspended a merchant's staff member, the merchant's owner (or a
-- manager, for a cashier) could lift it through POST /merchant/staff/{id}/activate. The staff row
-- now remembers that an admin suspended it: only an admin lifts that (the merchant side answers 403
-- SUSPENDED_BY_ADMIN). The flag is only ever true on a suspended row.
ALTER TABLE staff
    ADD COLUMN suspended_by_admin boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT staff_admin_suspension_check CHECK (NOT suspended_by_admin OR status = 'suspended');
