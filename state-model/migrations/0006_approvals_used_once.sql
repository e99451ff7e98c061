-- An approval is used by one apply only (ADR 0014): `demesne apply` records the use of an approval as the fact
-- (plan:<sha256>, approval.consumed, <approval id>) before the engine starts. The store holds at most one row of
-- it per approval, ever — current or superseded — so two applies racing on one approval cannot both record a
-- use (the second fails with unique_violation), and no correction can make a used approval usable again.
CREATE UNIQUE INDEX fact_approval_used_once ON fact (subject, value_key) WHERE attribute = 'approval.consumed';
