-- Shapes `prisma migrate dev` writes, on the Prisma app's tables.

-- CreateEnum
CREATE TYPE "Visibility" AS ENUM ('PUBLIC', 'PRIVATE', 'UNLISTED');

-- AlterEnum
ALTER TYPE "Role" ADD VALUE 'MODERATOR';

-- AlterEnum
ALTER TYPE "PostStatus" ADD VALUE 'ARCHIVED' BEFORE 'PUBLISHED';

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "bio" TEXT,
ADD COLUMN     "avatarUrl" VARCHAR(255),
ADD COLUMN     "isVerified" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "Post" ADD COLUMN     "publishedAt" TIMESTAMP(3),
ADD COLUMN     "slug" TEXT;

-- AlterTable
ALTER TABLE "Post" ADD COLUMN     "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- AlterTable
ALTER TABLE "Comment" ADD COLUMN     "editedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Profile" (
    "id" SERIAL NOT NULL,
    "bio" TEXT,
    "userId" INTEGER NOT NULL,

    CONSTRAINT "Profile_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
-- truth: after previous
CREATE UNIQUE INDEX "Profile_userId_key" ON "Profile"("userId");

-- AddForeignKey
-- truth: after previous
ALTER TABLE "Profile" ADD CONSTRAINT "Profile_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- CreateIndex
CREATE UNIQUE INDEX "Post_slug_key" ON "Post"("title");

-- CreateIndex
CREATE INDEX "Comment_postId_idx" ON "Comment"("postId");

-- CreateIndex
CREATE INDEX "Post_createdAt_published_idx" ON "Post"("createdAt", "published");

-- AddForeignKey
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_postId_fkey" FOREIGN KEY ("postId") REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Comment" ADD CONSTRAINT "Comment_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_B_fkey" FOREIGN KEY ("B") REFERENCES "Tag"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- DropForeignKey
ALTER TABLE "Post" DROP CONSTRAINT "Post_authorId_fkey";

-- DropIndex
DROP INDEX "Post_authorId_idx";

-- DropIndex
DROP INDEX "User_email_key";

-- AlterTable
-- truth: breaks-app
ALTER TABLE "User" DROP COLUMN "name";

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "title" SET DATA TYPE TEXT;

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "viewCount" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "content" SET NOT NULL;

-- AlterTable
ALTER TABLE "Comment" ALTER COLUMN "authorId" DROP NOT NULL;

-- AlterTable
ALTER TABLE "Post" ALTER COLUMN "published" DROP DEFAULT;

-- AlterTable
ALTER TABLE "User" ALTER COLUMN "updatedAt" SET DEFAULT CURRENT_TIMESTAMP;

-- RenameIndex
ALTER INDEX "Post_authorId_idx" RENAME TO "Post_author_idx";

-- AlterEnum: the way Prisma removes an enum value (new type, swap, drop the old)
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN', 'OWNER');

-- truth: after previous
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;

-- truth: after previous
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");

-- truth: after previous
ALTER TYPE "Role" RENAME TO "Role_old";

-- truth: after previous
ALTER TYPE "Role_new" RENAME TO "Role";

-- truth: after previous
DROP TYPE "Role_old";

-- truth: after previous
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';

-- DropTable
-- truth: breaks-app
DROP TABLE "_PostToTag";

-- RedefineTables: Prisma drops and recreates a table it cannot alter
CREATE TABLE "new_Tag" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "color" TEXT NOT NULL DEFAULT '#000000',
    CONSTRAINT "new_Tag_pkey" PRIMARY KEY ("id")
);

-- truth: after previous
INSERT INTO "new_Tag" ("id", "name") SELECT "id", "name" FROM "Tag";

-- truth: after previous
-- truth: breaks-app
DROP TABLE "Tag" CASCADE;

-- truth: after previous
ALTER TABLE "new_Tag" RENAME TO "Tag";
