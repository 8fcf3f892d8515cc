-- A console ticket remembers the sessionVersion of its user when minted: a reset, disable or role change
-- since voids it and ends the sessions it opened.
ALTER TABLE "ConsoleTicket" ADD COLUMN "sessionVersion" INTEGER NOT NULL DEFAULT 0;
