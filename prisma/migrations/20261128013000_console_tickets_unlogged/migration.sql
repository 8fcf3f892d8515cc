-- Console tickets are single-use secrets that live at most 60 s. As an UNLOGGED table their mint and
-- redemption commits never wait for a WAL flush (on a hypervisor host's busy disk an fsync can take
-- tens of milliseconds, and every console connect redeems a ticket). After a crash PostgreSQL empties
-- unlogged tables, so a crash can only invalidate outstanding tickets (clients ask for a new one),
-- never bring a consumed one back. Prisma's schema has no notion of UNLOGGED, so it lives here only.
ALTER TABLE "ConsoleTicket" SET UNLOGGED;
