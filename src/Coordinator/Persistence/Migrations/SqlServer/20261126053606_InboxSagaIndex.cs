using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Sagas.Coordinator.Persistence.Migrations.SqlServer
{
    /// <inheritdoc />
    public partial class InboxSagaIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_inbox_SagaId",
                table: "inbox",
                column: "SagaId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_inbox_SagaId",
                table: "inbox");
        }
    }
}
