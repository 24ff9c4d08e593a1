using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Sagas.Coordinator.Persistence.Migrations.SqlServer
{
    /// <inheritdoc />
    public partial class TenantStateIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_sagas_Tenant_State_CreatedAt_Id",
                table: "sagas",
                columns: new[] { "Tenant", "State", "CreatedAt", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_sagas_Tenant_State_CreatedAt_Id",
                table: "sagas");
        }
    }
}
